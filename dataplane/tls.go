package dataplane

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/internal/certname"
	"github.com/portcullis/portcullis/internal/clientcrl"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/internal/reload"
	"github.com/portcullis/portcullis/limiter"
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
// MTLSIdentities). ClientCRLFile revokes client certificates (crl.go): a
// certificate its CA's CRL lists, or whose CA's CRL is past its
// nextUpdate, fails the handshake.
type TLS struct {
	CertFile      string        // PEM certificate chain of the listener
	KeyFile       string        // PEM private key of CertFile
	ClientCAFile  string        // PEM CA certificates of client certificates; empty: none asked for
	ClientCRLFile string        // CRLs (PEM or DER) of CAs of ClientCAFile, each signed by its CA; empty: none
	Reload        time.Duration // how often the files are checked for a change (10s)
}

// tlsState is one loaded configuration: the listener's and the client
// CRLs it checks (nil without ClientCRLFile).
type tlsState struct {
	cfg  *tls.Config
	crls *clientcrl.Set
}

// certReloader holds the listener's TLS configuration and swaps in a new
// one when the files change: a handshake takes the configuration in force
// when it starts, so connections already open keep theirs and new ones
// get the new certificate, without a restart.
type certReloader struct {
	files TLS
	log   zerolog.Logger
	cur   atomic.Pointer[tlsState]
	stop  chan struct{}
	wg    sync.WaitGroup

	reloaded, failed atomic.Uint64 // loads after the first that swapped, and that failed
	// revoked and crlExpired count the handshakes refused because a CRL
	// lists the client certificate, and because its CA's CRL expired;
	// refusedLog is when one was last logged (unix nanoseconds), so an
	// attacker retrying a revoked certificate does not flood the log.
	revoked, crlExpired atomic.Uint64
	refusedLog          atomic.Int64
	refusals            refusalAudit // the refusals' audit records (crl_audit.go)
	// gen counts the configurations swapped in, after each swap: a
	// connection accepted under an older one has its client certificate
	// verified again (recheck).
	gen atomic.Uint64

	// clientFiles tells a handshake, or a request on a connection with a
	// client certificate, that ClientCAFile or ClientCRLFile changed (nil
	// without a client CA file), looked at most once a second (fresh): a
	// CRL written, or a CA removed, between two polls was not in force
	// until the next, the certificates it refuses served until then
	// (TestSidecarClientCRLReadAtHandshake, TestSidecarClientCAReadAtHandshake).
	clientFiles *reload.Watch

	// mu guards the following fields: the poll and fresh load the files.
	mu sync.Mutex
	// last is what the files held at the last load: the poll compares
	// bytes, not modification times, which a Secret's symlink swap and
	// some copies do not change. expiredCRLs is the CRLs past their
	// nextUpdate at the last check (logged when that number changes).
	last        [4][]byte
	expiredCRLs int
	// failures is the load failure last logged, until the files load:
	// bad files were logged at every poll, every second with
	// --tls-reload 1s (TestTLSReloadFailureLoggedOnce). It is
	// cmd/portcullis's re-read files' too (reload.Value).
	failures reload.Failures
}

// newCertReloader loads files once (an error names the file and the
// problem) and starts the poll. Handshakes a CRL refuses are audited to
// sink (nil: counted as left out).
func newCertReloader(files TLS, log zerolog.Logger, sink Sink, onPanic func(where string, p any)) (*certReloader, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, errors.New("dataplane: TLS needs both a certificate file and a key file")
	}
	if files.ClientCRLFile != "" && files.ClientCAFile == "" {
		return nil, fmt.Errorf("dataplane: client CRL file %q needs a client CA file", files.ClientCRLFile)
	}
	if files.Reload <= 0 {
		files.Reload = 10 * time.Second
	}
	r := &certReloader{files: files, log: log, stop: make(chan struct{}), refusals: refusalAudit{sink: sink, onPanic: onPanic}}
	switch {
	case files.ClientCRLFile != "":
		r.clientFiles = reload.NewWatch(files.ClientCAFile, files.ClientCRLFile) // before the load
	case files.ClientCAFile != "":
		r.clientFiles = reload.NewWatch(files.ClientCAFile)
	}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	r.checkCRLs(time.Now())
	r.wg.Go(r.poll)
	return r, nil
}

// config returns the listener's TLS configuration: it hands every
// handshake the configuration loaded last, after loading the files again
// when the client CA or CRL file changed (fresh).
func (r *certReloader) config() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tls12Suites,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			r.fresh(limiter.Now())
			return r.cur.Load().cfg, nil
		},
	}
}

// fresh loads the files, as a poll tick does, when the client CA or CRL
// file changed since they were last looked at, at most once a second
// (reload.Watch); one atomic load otherwise, nothing without a client CA
// file. A file that does not load keeps the configuration in force and
// is logged once, as on the tick.
func (r *certReloader) fresh(mono int64) {
	if r.clientFiles == nil || !r.clientFiles.Changed(mono) {
		return
	}
	r.reload()
}

// reload loads the files and checks the CRLs' dates, as the poll tick
// does and a change the client files show (fresh), under a recover: it
// logs, on the tick's goroutine and from a request's begin, before the
// handler's recover is in place, and a log writer that panicked there
// took the whole sidecar down (TestTLSReloadLogPanicKeepsServing). The
// configuration loaded before the panic, if any, stays in force. Only a
// change pays for the defer.
func (r *certReloader) reload() {
	defer r.reloadPanicked()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloadLocked()
	r.checkCRLs(time.Now())
}

// reloadPanicked recovers a panic of reload, after r.mu is unlocked, and
// reports it.
func (r *certReloader) reloadPanicked() {
	if p := recover(); p != nil {
		r.refusals.report("tls reload", p)
	}
}

// tls12Suites are the TLS 1.2 cipher suites the listener takes: ECDHE
// key exchange (forward secrecy) with an AEAD cipher, for an ECDSA or an
// RSA certificate. Go's defaults also take the ECDHE suites with AES-CBC
// and HMAC-SHA1 (MAC-then-encrypt, the Lucky13 family of padding-oracle
// timing attacks), which a client could pick by offering nothing else
// (TestTLS12CBCRefused). Every TLS 1.2 client of the last decade offers a
// GCM suite (RFC 7525's and Mozilla's "intermediate" lists are these).
// TLS 1.3 suites are not configurable, and all are AEAD.
// TLS12Suites returns tls12Suites, for the other TLS servers of the
// binary (the collector's intake, the injector's webhook).
func TLS12Suites() []uint16 { return slices.Clone(tls12Suites) }

var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// poll reloads the files every Reload until close. A failed load (a key
// not yet matching its certificate halfway through a rotation, a file
// missing) keeps the configuration in force and is tried again; it is
// logged when it starts or changes, and the files loading again once.
func (r *certReloader) poll() {
	t := time.NewTicker(r.files.Reload)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.reload()
		r.refusals.flush(time.Now())
	}
}

// reloadLocked loads the files (r.mu held), logging what it did: on the
// poll tick and when the client CA or CRL file changed (fresh).
func (r *certReloader) reloadLocked() {
	changed, err := r.load()
	switch {
	case err != nil:
		r.failed.Add(1)
		if r.failures.Failed(err.Error()) {
			r.log.Error().Err(err).Msg("TLS files changed but cannot be loaded; keeping the certificate, client CAs and client CRLs in force (logged again when the failure changes)")
		}
	case r.failures.Loaded():
		if changed {
			r.reloaded.Add(1)
		}
		r.log.Info().Str("cert", r.files.CertFile).Bool("changed", changed).Msg("TLS files load again; new connections use the configuration they hold")
	case changed:
		r.reloaded.Add(1)
		r.log.Info().Str("cert", r.files.CertFile).Msg("TLS certificate reloaded; new connections use it")
	}
}

// checkCRLs logs, as an error, the client CRLs in force that are past
// their nextUpdate at now, when their number changed since the last
// check: every client certificate of their CAs is refused until a fresh
// CRL is loaded (portcullis_tls_client_crls_expired says how many). r.mu
// is held, but at the start.
func (r *certReloader) checkCRLs(now time.Time) {
	crls := r.cur.Load().crls
	n := crls.Expired(now)
	if n == r.expiredCRLs {
		return
	}
	r.expiredCRLs = n
	if n == 0 {
		r.log.Info().Str("crl", r.files.ClientCRLFile).Msg("client CRLs current again; their CAs' certificates are served")
		return
	}
	for _, c := range crls.CRLs() {
		if !c.Next.IsZero() && !now.Before(c.Next) {
			r.log.Error().Str("crl", r.files.ClientCRLFile).Str("issuer", c.Issuer).Time("next_update", c.Next).
				Msg("client CRL expired (past its nextUpdate): every client certificate of its CA is refused until a fresh CRL is loaded")
		}
	}
}

// load reads the files and, when they differ from the last load, builds
// and swaps in a new configuration. r.mu is held, but at the start.
func (r *certReloader) load() (bool, error) {
	var now [4][]byte
	for i, path := range []string{r.files.CertFile, r.files.KeyFile, r.files.ClientCAFile, r.files.ClientCRLFile} {
		if path == "" {
			continue
		}
		// A regular file only: a FIFO swapped in at a reload held the
		// poll in open(2) for good, and no rotation loaded after it. At
		// most MaxPEMBytes: a huge file swapped in was read whole, at
		// every poll.
		b, err := durable.ReadPEM(path)
		if err != nil {
			return false, fmt.Errorf("dataplane: cannot read TLS file %q: %w", path, err)
		}
		now[i] = b
	}
	if r.cur.Load() != nil && sameFiles(now, r.last) {
		return false, nil
	}
	st, err := r.build(now)
	if err != nil {
		return false, err
	}
	r.cur.Store(st)
	r.gen.Add(1) // after the store: a handshake after this reads cfg
	r.last = now
	return true, nil
}

// sameFiles reports whether two loads read the same bytes.
func sameFiles(a, b [4][]byte) bool {
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
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
// CAs and CRLs in force, when the configuration changed since c was
// accepted, and drops its identities when it no longer verifies or a CRL
// now revokes it: a CA taken out of the client CA file, or a certificate
// added to a CRL, ends the authentication of the connections it opened,
// kept alive or not; a connection with identities first has the client
// CA and CRL files looked at (fresh), at mono, the request's reading of
// the limiter clock. It allocates only after a reload, once per
// connection. r may be nil (no TLS).
func (r *certReloader) recheck(c *conn, mono int64) {
	if r == nil || c.tc == nil {
		return
	}
	if len(c.ids) > 0 {
		r.fresh(mono)
	}
	gen := r.gen.Load()
	if c.caGen == gen {
		return
	}
	c.caGen = gen
	if len(c.ids) == 0 {
		return
	}
	st := r.cur.Load()
	chains := verifyClient(c.tc.ConnectionState().PeerCertificates, st.cfg.ClientCAs)
	if len(chains) == 0 {
		c.ids, c.certEnd, c.certBorn = nil, 0, 0
		return
	}
	switch s, _, _ := st.crls.Check(chains, time.Now()); s {
	case clientcrl.Revoked:
		c.ids, c.certEnd, c.certBorn, c.certDenied = nil, 0, 0, audit.CertRevoked
	case clientcrl.Expired:
		c.ids, c.certEnd, c.certBorn, c.certDenied = nil, 0, 0, audit.Unauthenticated
	default:
		c.certEnd = st.crls.Until(chains[0], certEnd(chains[0]))
	}
}

// verifyClient returns the chains by which the client certificate chain
// peer (the leaf first, then the intermediates it sent) verifies against
// roots for client authentication now, as the handshake verified it; nil
// when it does not.
func verifyClient(peer []*x509.Certificate, roots *x509.CertPool) [][]*x509.Certificate {
	if len(peer) == 0 || roots == nil {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	chains, err := peer[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil
	}
	return chains
}

// build returns the configuration of the file contents pem (certificate,
// key, client CAs, client CRLs).
func (r *certReloader) build(pem [4][]byte) (*tlsState, error) {
	cert, err := tls.X509KeyPair(pem[0], pem[1])
	if err != nil {
		return nil, fmt.Errorf("dataplane: TLS certificate %q and key %q: %w", r.files.CertFile, r.files.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tls12Suites,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	}
	st := &tlsState{cfg: cfg}
	if r.files.ClientCAFile == "" {
		return st, nil
	}
	cas, err := clientcrl.ParseCAs(pem[2])
	if err != nil {
		return nil, fmt.Errorf("dataplane: client CA file %q: %w", r.files.ClientCAFile, err)
	}
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	if r.files.ClientCRLFile != "" {
		if st.crls, err = clientcrl.Parse(r.files.ClientCRLFile, pem[3], r.files.ClientCAFile, cas); err != nil {
			return nil, fmt.Errorf("dataplane: %w", err)
		}
		if cur := r.cur.Load(); cur != nil {
			if err := st.crls.Follows(cur.crls, cas); err != nil {
				return nil, fmt.Errorf("dataplane: client CRL file %q: %w", r.files.ClientCRLFile, err)
			}
		}
		crls := st.crls
		// After the chain is verified, on every handshake, resumed ones
		// too (crypto/tls, Config.VerifyConnection).
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return r.refuseRevoked(crls, cs.VerifiedChains) }
	}
	return st, nil
}

// Errors of a handshake whose client certificate a CRL refuses.
var (
	errCertRevoked = errors.New("dataplane: client certificate revoked by its CA's CRL")
	errCRLExpired  = errors.New("dataplane: the CRL of the client certificate's CA is past its nextUpdate")
)

// refuseRevoked fails the handshake of verified client certificate chains
// that crls refuses (a listed serial, an expired CRL), counting it and
// logging it at most once a second.
func (r *certReloader) refuseRevoked(crls *clientcrl.Set, chains [][]*x509.Certificate) error {
	st, issuer, cert := crls.Check(chains, time.Now())
	var err error
	switch st {
	case clientcrl.Good:
		return nil
	case clientcrl.Revoked:
		r.revoked.Add(1)
		err = errCertRevoked
	default:
		r.crlExpired.Add(1)
		err = errCRLExpired
	}
	now, last := time.Now().UnixNano(), r.refusedLog.Load()
	if now-last >= int64(time.Second) && r.refusedLog.CompareAndSwap(last, now) {
		r.log.Warn().Err(err).Str("issuer", issuer).Str("serial", cert.SerialNumber.String()).
			Msg("client certificate refused at the handshake")
	}
	return newCertRefusal(err, cert) // audited by tlsConn.Handshake, which knows the peer
}

// families returns the metric families of TLS on the listener: none
// without TLS (r nil), the client CRL ones only with --client-crl.
func (r *certReloader) families() []Family {
	if r == nil {
		return nil
	}
	f := []Family{
		Counter("portcullis_tls_reloads_total", "Loads of changed TLS files (--tls-cert, --tls-key, --client-ca, --client-crl) swapped in after the first.", r.reloaded.Load),
		Counter("portcullis_tls_reload_failures_total", "Loads of changed TLS files that failed (logged); the configuration in force stays.", r.failed.Load),
	}
	if r.files.ClientCRLFile == "" {
		return f
	}
	return append(f,
		Counter("portcullis_tls_client_certs_revoked_total", "Handshakes refused because the CRL of the client certificate's CA lists it.", r.revoked.Load),
		Counter("portcullis_tls_client_crl_expired_refusals_total", "Handshakes refused because the CRL of the client certificate's CA is past its nextUpdate.", r.crlExpired.Load),
		Counter("portcullis_tls_refusal_records_total", "Handshakes refused by a client CRL that were audited one by one (decision cert_revoked or cert_crl_expired, with the certificate's serial and issuer hash).", r.refusals.recorded.Load),
		Counter("portcullis_tls_refusal_records_suppressed_total", "Handshakes refused by a client CRL left out of the audit trail past 10 records a second (summed into one record per decision at the next --tls-reload tick).", r.refusals.suppressed.Load),
		Gauge("portcullis_tls_client_crls_expired", "Client CRLs in force past their nextUpdate: every client certificate of their CAs is refused until a fresh CRL loads.", func() float64 {
			return float64(r.cur.Load().crls.Expired(time.Now()))
		}),
		Family{Name: clientcrl.NextUpdateMetric, Type: "gauge", Help: clientcrl.NextUpdateHelp,
			Samples: func(b []byte) []byte { return r.cur.Load().crls.AppendNextUpdate(b, time.Now()) }},
	)
}

// close stops the poll and writes the audit summary of the refusals left
// out since its last tick.
func (r *certReloader) close() {
	close(r.stop)
	r.wg.Wait()
	r.refusals.flush(time.Now())
}

// tlsWire is the TCP connection under the TLS of c: its Read counts the
// bytes of the wire and fails, so TLS does, once they pass tlsOverhead
// times the bytes TLS handed the sidecar, plus tlsSlack.
//
// TLS 1.3 lets a record carry nothing but padding, up to 16 KiB (RFC 8446
// section 5.4), and crypto/tls skips up to 16 such records in a row
// before each record of data (maxUselessRecords, with alerts of warning
// level and, in TLS 1.2, empty records): every budget of the request path
// (the head, the 16 KiB of a body before authentication, the chunk budget)
// counts the decrypted bytes, so a client that sent one byte per 16
// records of padding made the sidecar read and decrypt 265 KiB a byte
// for the whole ReadTimeout (TestTLSPaddingBudget). An ordinary client
// costs TLS a few dozen bytes a record: one of requests of 30 bytes, each
// in its own record, stays under 3 times. A client that writes a byte at
// a time sends a record per byte, though: 23 bytes on the wire in TLS
// 1.3, 30 in TLS 1.2 with AES-GCM (53 with AES-CBC and SHA-1, IV, MAC
// and padding, which tls12Suites no longer takes), and a
// bound of 8 times cut it off after some 35 KiB (TestTLSSmallRecordsServed).
// The bound is what such a record costs at most: 64 bytes on the wire per
// byte delivered, against the 265 KiB of records of padding.
type tlsWire struct {
	net.Conn
	c *conn
}

// tlsOverhead and tlsSlack bound the bytes on the wire of a TLS
// connection (tlsWire): tlsOverhead is at least the wire bytes of a
// record of one byte of data (53 in TLS 1.2 CBC); the slack takes the
// handshake, a client's certificate chain of 256 KiB (crypto/tls's cap)
// among it.
const (
	tlsOverhead = 64
	tlsSlack    = 512 << 10
)

// errTLSOverhead fails a TLS connection whose bytes on the wire are past
// its bound (tlsWire).
var errTLSOverhead = errors.New("dataplane: TLS records carry too little data for their size")

func (w tlsWire) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if w.c.wire += int64(n); w.c.wire > tlsOverhead*w.c.plain+tlsSlack {
		return n, errTLSOverhead
	}
	return n, err
}

// tlsConn is a conn that serves TLS. fasthttp sees Handshake and
// ConnectionState, so it runs the handshake under its read and write
// deadlines and reports the request as TLS; the data plane sees its conn.
type tlsConn struct{ *conn }

// Handshake runs the TLS handshake, once, and audits it when a client CRL
// refused its certificate (crl_audit.go): only here is the peer known.
// fasthttp calls it outside any recover, and crypto/tls recovers nothing
// of the callbacks it runs in it (GetConfigForClient, VerifyConnection:
// the CRL check, which logs a refusal), so a panic there took the whole
// sidecar down (TestTLSVerifyPanicKeepsServing): it fails the handshake
// instead (handshakePanicked). One defer per connection, beside the
// handshake's own cost.
func (c tlsConn) Handshake() (err error) {
	defer c.handshakePanicked(&err)
	err = c.tc.Handshake()
	if err != nil && c.l != nil && c.l.certs != nil {
		c.l.certs.refused(err, c.peer)
	}
	return err
}

// handshakePanicked recovers a panic of the handshake, which then fails
// with errHandshakePanicked (fasthttp closes the connection), and
// reports it as the listener's reloader was told to (Server.recovered).
func (c tlsConn) handshakePanicked(err *error) {
	if p := recover(); p != nil {
		*err = errHandshakePanicked
		if c.l != nil && c.l.certs != nil {
			c.l.certs.refusals.report("tls handshake", p)
		}
	}
}

// errHandshakePanicked fails a handshake that panicked.
var errHandshakePanicked = errors.New("dataplane: the TLS handshake panicked")

// ConnectionState returns the TLS state of the connection.
func (c tlsConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// subjectScheme is the scheme url.Parse gives a URI SAN spelled like a
// subject identity ("subject:CN=..."; the scheme is lowercased).
const subjectScheme = "subject"

// identities returns the identities of the client certificate verified on
// the connection, worked out on its first request: the URI SANs (a SPIFFE
// ID among them) and "subject:" with the subject in RFC 2253 form. It is
// nil for a plain connection and one without a client certificate.
func (c *conn) identities(r *certReloader) []string {
	if c.tc == nil || c.idsDone {
		return c.ids
	}
	c.idsDone = true
	st := c.tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil
	}
	// The CRLs that let the handshake through vouch for the chain until
	// their nextUpdate: a connection kept alive does not outlive them.
	c.certEnd = r.cur.Load().crls.Until(st.VerifiedChains[0], certEnd(st.VerifiedChains[0]))
	leaf := st.VerifiedChains[0][0]
	c.certBorn = leaf.NotBefore.UnixNano()
	// A URI SAN that prints otherwise than the certificate spells it is
	// none: url.URL drops an empty fragment, so "spiffe://td/ns/acme/sa/admin#"
	// printed as the admin's SPIFFE ID (TestTLSURISANPrintedAsAnotherRefused).
	// One with the scheme "subject" would print as a subject identity:
	// only the certificate's subject may claim one, and only a subject
	// that prints every common name and serial number it holds
	// (certname.FaithfulSubject).
	for _, id := range certname.SpelledURIs(leaf) {
		if len(id) <= len(subjectScheme) || !strings.EqualFold(id[:len(subjectScheme)+1], subjectScheme+":") {
			c.ids = append(c.ids, id)
		}
	}
	if certname.FaithfulSubject(leaf.RawSubject) {
		c.ids = append(c.ids, "subject:"+leaf.Subject.String())
	}
	return c.ids
}

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
