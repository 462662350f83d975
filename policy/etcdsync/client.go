package etcdsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/portcullis/portcullis/internal/durable"
)

// Config says how to reach etcd. Only Endpoints is required.
type Config struct {
	Endpoints   []string // host:port or URLs
	CACert      string   // PEM file of the CA that signed the server certificates
	Cert, Key   string   // PEM files of the client certificate and its key (mutual TLS)
	Username    string   // etcd user (with Password)
	Password    string
	DialTimeout time.Duration // how long to wait for a connection (5s)

	// ClientCertificate, when set, gives the client certificate each new
	// connection presents, in place of the pair of Cert and Key read once
	// by Dial: the long-running commands re-read the files when they
	// change, so a renewed certificate is presented without a restart
	// (cmd/portcullis, dialEtcd). Cert and Key still name the files (User).
	ClientCertificate func() (*tls.Certificate, error)
	// RootCAs, when set, gives the CAs each new TLS connection verifies
	// the etcd server's certificate with, in place of those of CACert
	// read once by Dial: the long-running commands re-read the file when
	// it changes, so a rotated etcd CA is trusted without a restart
	// (cmd/portcullis, dialEtcdRenewing). CACert still names the file.
	RootCAs func() (*x509.CertPool, error)
}

// keepAliveTime and keepAliveTimeout are the gRPC keepalive of the client:
// a ping after keepAliveTime without traffic, and the connection closed when
// none answers within keepAliveTimeout. Without them a member that hangs
// while its kernel still acknowledges (a stopped process, a stalled disk)
// held the watch forever: no error, no change, revocations never arriving
// though other endpoints answered (TestSidecarLeavesHungEtcdMember). etcd
// refuses pings more often than its --grpc-keepalive-min-time (5s).
const (
	keepAliveTime    = 10 * time.Second
	keepAliveTimeout = 5 * time.Second
)

// reconnect is how the client's connection to an etcd member is dialled
// again after it broke. gRPC's default backoff grows 1.6 times a try up to
// two minutes: after an outage of half a minute the next try came some 17
// seconds after etcd was back, and as every watch and lease of the
// sidecar shares the connection, revocations, suspensions and the member
// record waited with it (review80 measured about 19 s). Tries at most two
// seconds apart cost an idle sidecar one dial every two seconds while etcd
// is down; a fleet of them is what etcd's accept queue sees after a
// restart anyway, spread by the jitter.
var reconnect = grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  250 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   2 * time.Second,
	},
	MinConnectTimeout: 5 * time.Second,
}

// Dial returns a client for the etcd cluster cfg names. It does not wait
// for a connection: the first request does. Close the client when done.
func Dial(cfg Config) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("no etcd endpoints given")
	}
	tlsCfg, err := cfg.tls()
	if err != nil {
		return nil, err
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: keepAliveTimeout,
		TLS:                  tlsCfg,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zap.NewNop(),
		DialOptions:          cfg.dialOptions(tlsCfg),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot connect to etcd %v: %w", cfg.Endpoints, err)
	}
	return cli, nil
}

// dialOptions are the client's gRPC dial options: with RootCAs and TLS,
// transport credentials that verify with the CAs RootCAs gives at each
// handshake. clientv3 puts DialOptions after its own credentials, so
// these replace them; it takes TLS only when the first endpoint is not
// http:// or unix: (as it does: clientv3, credentialsForEndpoint).
func (cfg Config) dialOptions(tlsCfg *tls.Config) []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithConnectParams(reconnect)}
	if tlsCfg == nil || cfg.RootCAs == nil || cfg.CACert == "" {
		return opts
	}
	if ep := cfg.Endpoints[0]; strings.HasPrefix(ep, "http://") || (strings.HasPrefix(ep, "unix:") && !strings.HasPrefix(ep, "unixs:")) {
		return opts
	}
	return append(opts, grpc.WithTransportCredentials(&rootsTLS{base: tlsCfg, roots: cfg.RootCAs}))
}

// rootsTLS is gRPC's TLS transport credentials for a client whose
// trusted CAs are looked up at each handshake: each one is gRPC's own
// (credentials.NewTLS: the server name from the endpoint, the full
// verification by crypto/tls) of a tls.Config whose RootCAs are those
// roots gives then. A client-side VerifyConnection could not check the
// name: crypto/tls hands it none for an IP address endpoint.
type rootsTLS struct {
	base  *tls.Config
	roots func() (*x509.CertPool, error)
}

func (r *rootsTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	pool, err := r.roots()
	if err != nil {
		return nil, nil, err // gRPC closes conn
	}
	cfg := r.base.Clone()
	cfg.RootCAs = pool
	return credentials.NewTLS(cfg).ClientHandshake(ctx, authority, conn)
}

func (r *rootsTLS) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("etcdsync: client credentials only")
}

func (r *rootsTLS) Info() credentials.ProtocolInfo { return credentials.NewTLS(r.base).Info() }

func (r *rootsTLS) Clone() credentials.TransportCredentials {
	return &rootsTLS{base: r.base.Clone(), roots: r.roots}
}

// OverrideServerName is deprecated in gRPC, which no longer calls it.
func (r *rootsTLS) OverrideServerName(name string) error {
	r.base.ServerName = name
	return nil
}

// User returns the etcd user cfg connects as when etcd authentication is
// on: Username when given (a password's token is what etcd reads first),
// else the common name of the client certificate, which etcd takes as the
// user under --client-cert-auth (deploy/kubernetes), else "". The CLI
// records it with each change, and the two-person rule refuses a grant
// written as the request's user: read from Username alone, a request and
// its grant written with one person's certificate recorded no user, and
// were told apart only by the names they claimed. The certificate is
// loaded as Dial loads it (tls), so User names the one etcd is shown: a
// file with the key before the certificate, decoded by its first PEM
// block, named no user (TestConfigUserReadsTheCertificateDialPresents).
func (cfg Config) User() string {
	if cfg.Username != "" || cfg.Cert == "" {
		return cfg.Username
	}
	cert, err := durable.LoadX509KeyPair(cfg.Cert, cfg.Key)
	if err != nil || cert.Leaf == nil {
		return "" // Dial fails on it, and nothing is written
	}
	return cert.Leaf.Subject.CommonName
}

// tls builds the TLS configuration, or nil when no TLS file is given.
func (cfg Config) tls() (*tls.Config, error) {
	if cfg.CACert == "" && cfg.Cert == "" && cfg.Key == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACert != "" {
		pem, err := durable.ReadPEM(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("cannot read etcd CA %q: %w", cfg.CACert, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %q holds no PEM certificate", cfg.CACert)
		}
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		return nil, fmt.Errorf("etcd client certificate %q and key %q must be given together", cfg.Cert, cfg.Key)
	}
	if cfg.Cert != "" && cfg.ClientCertificate != nil {
		// Called at each handshake, on grpc's clones of tc (a callback
		// survives tls.Config.Clone).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cfg.ClientCertificate() }
	} else if cfg.Cert != "" {
		cert, err := durable.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("cannot load etcd client certificate %q: %w", cfg.Cert, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
