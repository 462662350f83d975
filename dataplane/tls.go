package dataplane

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
	"github.com/rs/zerolog"
)

// TLS configures TLS on the listener: a certificate and key, reloaded
// when their files change (a rotated Kubernetes Secret, cert-manager), and
// optionally the CA of client certificates (mTLS). A client certificate is
// asked for but not required, so that routes which do not need one still
// serve clients without one; a certificate presented is verified against
// ClientCAFile, and one that does not verify fails the handshake. The
// identities of a verified certificate authenticate a request that
// carries no API key or token (auth method mtls; policy.ClientSpec,
// MTLSIdentities).
type TLS struct {
	CertFile     string        // PEM certificate chain of the listener
	KeyFile      string        // PEM private key of CertFile
	ClientCAFile string        // PEM CA certificates of client certificates; empty: none asked for
	Reload       time.Duration // how often the files are checked for a change (10s)
}

// certReloader holds the listener's TLS configuration and swaps in a new
// one when the files change: a handshake takes the configuration in force
// when it starts, so connections already open keep theirs and new ones
// get the new certificate, without a restart.
type certReloader struct {
	files TLS
	log   zerolog.Logger
	cur   atomic.Pointer[tls.Config]
	stop  chan struct{}
	wg    sync.WaitGroup

	reloaded, failed atomic.Uint64 // loads after the first that swapped, and that failed
	// gen counts the configurations swapped in, after each swap: a
	// connection accepted under an older one has its client certificate
	// verified again (recheck).
	gen atomic.Uint64

	// last is what the files held at the last load: the poll compares
	// bytes, not modification times, which a Secret's symlink swap and
	// some copies do not change. Only the poll goroutine uses it.
	last [3][]byte
}

// newCertReloader loads files once (an error names the file and the
// problem) and starts the poll.
func newCertReloader(files TLS, log zerolog.Logger) (*certReloader, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, errors.New("dataplane: TLS needs both a certificate file and a key file")
	}
	if files.Reload <= 0 {
		files.Reload = 10 * time.Second
	}
	r := &certReloader{files: files, log: log, stop: make(chan struct{})}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	r.wg.Go(r.poll)
	return r, nil
}

// config returns the listener's TLS configuration: it hands every
// handshake the configuration loaded last.
func (r *certReloader) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load(), nil
		},
	}
}

// poll reloads the files every Reload until close. A failed load (a key
// not yet matching its certificate halfway through a rotation, a file
// missing) keeps the configuration in force and is tried again.
func (r *certReloader) poll() {
	t := time.NewTicker(r.files.Reload)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		changed, err := r.load()
		switch {
		case err != nil:
			r.failed.Add(1)
			r.log.Error().Err(err).Msg("TLS files changed but cannot be loaded; keeping the certificate in force")
		case changed:
			r.reloaded.Add(1)
			r.log.Info().Str("cert", r.files.CertFile).Msg("TLS certificate reloaded; new connections use it")
		}
	}
}

// load reads the files and, when they differ from the last load, builds
// and swaps in a new configuration.
func (r *certReloader) load() (bool, error) {
	var now [3][]byte
	for i, path := range []string{r.files.CertFile, r.files.KeyFile, r.files.ClientCAFile} {
		if path == "" {
			continue
		}
		// A regular file only: a FIFO swapped in at a reload held the
		// poll in open(2) for good, and no rotation loaded after it.
		b, err := durable.ReadRegular(path)
		if err != nil {
			return false, fmt.Errorf("dataplane: cannot read TLS file %q: %w", path, err)
		}
		now[i] = b
	}
	if r.cur.Load() != nil && bytes.Equal(now[0], r.last[0]) && bytes.Equal(now[1], r.last[1]) && bytes.Equal(now[2], r.last[2]) {
		return false, nil
	}
	cfg, err := r.build(now)
	if err != nil {
		return false, err
	}
	r.cur.Store(cfg)
	r.gen.Add(1) // after the store: a handshake after this reads cfg
	r.last = now
	return true, nil
}

// generation returns the number of configurations swapped in so far (0
// for r nil).
func (r *certReloader) generation() uint64 {
	if r == nil {
		return 0
	}
	return r.gen.Load()
}

// recheck verifies the client certificate of c again, against the client
// CAs in force, when the configuration changed since c was accepted, and
// drops its identities when it no longer verifies: a CA taken out of the
// client CA file ends the authentication of the connections its
// certificates opened, kept alive or not. It allocates only after a
// reload, once per connection. r may be nil (no TLS).
func (r *certReloader) recheck(c *conn) {
	if r == nil || c.tc == nil {
		return
	}
	gen := r.gen.Load()
	if c.caGen == gen {
		return
	}
	c.caGen = gen
	if len(c.ids) > 0 && !verifiesClient(c.tc.ConnectionState().PeerCertificates, r.cur.Load().ClientCAs) {
		c.ids, c.certEnd, c.certBorn = nil, 0, 0
	}
}

// verifiesClient reports whether the client certificate chain peer (the
// leaf first, then the intermediates it sent) verifies against roots for
// client authentication now, as the handshake verified it.
func verifiesClient(peer []*x509.Certificate, roots *x509.CertPool) bool {
	if len(peer) == 0 || roots == nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	_, err := peer[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

// build returns the configuration of the file contents pem (certificate,
// key, client CAs).
func (r *certReloader) build(pem [3][]byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(pem[0], pem[1])
	if err != nil {
		return nil, fmt.Errorf("dataplane: TLS certificate %q and key %q: %w", r.files.CertFile, r.files.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	}
	if r.files.ClientCAFile != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem[2]) {
			return nil, fmt.Errorf("dataplane: client CA file %q holds no PEM certificate", r.files.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// verifiesClients reports whether the listener asks for client
// certificates (r may be nil: no TLS).
func (r *certReloader) verifiesClients() bool { return r != nil && r.files.ClientCAFile != "" }

// close stops the poll.
func (r *certReloader) close() {
	close(r.stop)
	r.wg.Wait()
}

// tlsConn is a conn that serves TLS. fasthttp sees Handshake and
// ConnectionState, so it runs the handshake under its read and write
// deadlines and reports the request as TLS; the data plane sees its conn.
type tlsConn struct{ *conn }

// Handshake runs the TLS handshake, once.
func (c tlsConn) Handshake() error { return c.tc.Handshake() }

// ConnectionState returns the TLS state of the connection.
func (c tlsConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// subjectScheme is the scheme url.Parse gives a URI SAN spelled like a
// subject identity ("subject:CN=..."; the scheme is lowercased).
const subjectScheme = "subject"

// identities returns the identities of the client certificate verified on
// the connection, worked out on its first request: the URI SANs (a SPIFFE
// ID among them) and "subject:" with the subject in RFC 2253 form. It is
// nil for a plain connection and one without a client certificate.
func (c *conn) identities() []string {
	if c.tc == nil || c.idsDone {
		return c.ids
	}
	c.idsDone = true
	st := c.tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil
	}
	c.certEnd = certEnd(st.VerifiedChains[0])
	leaf := st.VerifiedChains[0][0]
	c.certBorn = leaf.NotBefore.UnixNano()
	for _, u := range leaf.URIs {
		// A URI SAN with the scheme "subject" would print as a subject
		// identity: only the certificate's subject may claim one.
		if u.Scheme != subjectScheme {
			c.ids = append(c.ids, u.String())
		}
	}
	if faithfulSubject(leaf.RawSubject) {
		c.ids = append(c.ids, "subject:"+leaf.Subject.String())
	}
	return c.ids
}

// faithfulSubject reports whether the parsed subject of a certificate
// prints every attribute of raw, its DER: pkix.Name keeps one CN and one
// serialNumber, the last, so a subject naming either twice ("CN=intern,
// CN=hris", the first one what its CA checked) would print as another
// subject. Such a certificate gives no subject identity.
func faithfulSubject(raw []byte) bool {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return false
	}
	var cn, sn int
	for _, rdn := range rdns {
		for _, atv := range rdn {
			switch {
			case atv.Type.Equal(oidCommonName):
				cn++
			case atv.Type.Equal(oidSerialNumber):
				sn++
			}
		}
	}
	return cn <= 1 && sn <= 1
}

var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// certEnd returns the unix nanoseconds at which the first certificate of
// chain expires: after it the connection's identities no longer
// authenticate (authenticateMTLS), however long the connection is kept
// alive.
func certEnd(chain []*x509.Certificate) int64 {
	end := chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotAfter.Before(end) {
			end = c.NotAfter
		}
	}
	return end.UnixNano()
}
