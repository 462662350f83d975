package dataplane

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// crlNumber numbers the test CRLs (a CRL's number must grow).
var crlNumber atomic.Int64

// crl returns the DER of a CRL of a, issued at this, valid until next,
// listing the serials.
func (a *authority) crl(t *testing.T, this, next time.Time, serials ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(crlNumber.Add(1)), ThisUpdate: this, NextUpdate: next}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.cert, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// crlPEM returns the CRLs' DER as PEM blocks, one after another.
func crlPEM(ders ...[]byte) []byte {
	var b []byte
	for _, d := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: d})...)
	}
	return b
}

// withCRL writes the CRL file contents b next to the TLS files and names
// it in files.
func withCRL(t *testing.T, files *TLS, b []byte) *TLS {
	t.Helper()
	files.ClientCRLFile = filepath.Join(filepath.Dir(files.CertFile), "client.crl")
	writeFile(t, files.ClientCRLFile, b)
	return files
}

// served dials with cert, sends one request and returns its status; the
// error is the handshake's, which under TLS 1.3 a client sees on its
// first read.
func served(t *testing.T, addr string, roots *x509.CertPool, l *leaf, method, target string) (int, error) {
	t.Helper()
	r, err := tlsCall(t, addr, roots, &l.tls, method, target, nil)
	return r.status, err
}

// crlCase is a client CA, two client certificates it issued that the
// mtls policy maps (admin and hris), and the listener's files.
type crlCase struct {
	serverCA, clientCA *authority
	admin, hris        leaf
	roots              *x509.CertPool
	files              *TLS
}

func newCRLCase(t *testing.T) *crlCase {
	t.Helper()
	c := &crlCase{serverCA: newAuthority(t, "server CA"), clientCA: newAuthority(t, "client CA")}
	c.admin = c.clientCA.issue(t, "admin", []string{adminSPIFFE}, false)
	c.hris = c.clientCA.issue(t, "hris", nil, false)
	c.roots = x509.NewCertPool()
	c.roots.AddCert(c.serverCA.cert)
	c.files = tlsFiles(t, c.serverCA.issue(t, "sidecar", nil, true), c.clientCA)
	return c
}

// TestTLSClientCRL: with --client-crl, a client certificate that its
// CA's CRL lists fails the handshake (over real TLS, PEM and DER CRL
// files alike) and reaches nothing, counted in
// portcullis_tls_client_certs_revoked_total; another certificate of that
// CA is served as its client. A certificate of a second client CA, which
// has no CRL, is served: a CA without a CRL revokes nothing (README).
// Before, there was no revocation of client certificates at all.
func TestTLSClientCRL(t *testing.T) {
	for _, format := range []string{"PEM", "DER"} {
		t.Run(format, func(t *testing.T) {
			c := newCRLCase(t)
			otherCA := newAuthority(t, "second client CA")
			writeFile(t, c.files.ClientCAFile, append(append([]byte(nil), c.clientCA.pem...), otherCA.pem...))
			der := c.clientCA.crl(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), c.admin.serial)
			if format == "PEM" {
				der = crlPEM(der)
			}
			logs := &syncBuffer{}
			st := startStack(t, func(cfg *Config) {
				cfg.TLS = withCRL(t, c.files, der)
				cfg.Logger = zerolog.New(logs)
			})
			swapDoc(t, st.store, mtlsPolicy)

			before := len(st.up.received())
			if status, err := served(t, st.addr, c.roots, &c.admin, "PUT", "/v1/admin/settings"); err == nil {
				t.Errorf("revoked certificate: status %d, want the handshake refused", status)
			} else if !strings.Contains(err.Error(), "bad certificate") {
				t.Errorf("revoked certificate: %v, want a bad_certificate alert", err)
			}
			if got := len(st.up.received()); got != before {
				t.Errorf("the upstream got %d requests of the revoked certificate, want none", got-before)
			}
			if n := st.srv.certs.revoked.Load(); n != 1 {
				t.Errorf("revoked handshakes counted %d, want 1", n)
			}
			// Logged by issuer and serial; never the certificate.
			l := logs.String()
			if !strings.Contains(l, "client certificate refused") || !strings.Contains(l, `"serial":"`+c.admin.serial.String()+`"`) {
				t.Errorf("the refusal is not logged with the serial %v:\n%s", c.admin.serial, l)
			}
			if b64 := strings.Split(string(c.admin.certPEM), "\n")[1]; strings.Contains(l, b64) || strings.Contains(l, "BEGIN") {
				t.Errorf("the log holds the certificate:\n%s", l)
			}
			if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err != nil || status != 200 {
				t.Errorf("certificate the CRL does not list: %d %v, want 200", status, err)
			}
			if rec := st.sink.lastOf(t, "/v1/users/7"); string(rec.Client) != "acme-hris" || rec.AuthMethod != audit.AuthMTLS {
				t.Errorf("audit record: client %q, method %v; want acme-hris, mtls", rec.Client, rec.AuthMethod)
			}
			other := otherCA.issue(t, "admin", []string{adminSPIFFE}, false)
			if status, err := served(t, st.addr, c.roots, &other, "PUT", "/v1/admin/settings"); err != nil || status != 200 {
				t.Errorf("certificate of a CA without a CRL: %d %v, want 200", status, err)
			}
			page := scrape(t, st.srv)
			for _, want := range []string{"portcullis_tls_client_certs_revoked_total 1\n", "portcullis_tls_client_crls_expired 0\n"} {
				if !strings.Contains(page, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			parseExposition(t, page)
		})
	}
}

// TestTLSClientCRLExpired: a CRL past its nextUpdate no longer says which
// of its CA's certificates are revoked, so every certificate of that CA
// is refused at the handshake (fail closed, as OpenSSL's CRL check does),
// counted, and shown by portcullis_tls_client_crls_expired.
func TestTLSClientCRLExpired(t *testing.T) {
	c := newCRLCase(t)
	expired := c.clientCA.crl(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)) // lists nobody
	logs := &syncBuffer{}
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, crlPEM(expired))
		cfg.Logger = zerolog.New(logs)
	})
	swapDoc(t, st.store, mtlsPolicy)
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err == nil {
		t.Errorf("certificate of a CA whose CRL expired: status %d, want the handshake refused", status)
	}
	if n := st.srv.certs.crlExpired.Load(); n != 1 {
		t.Errorf("handshakes refused for an expired CRL counted %d, want 1", n)
	}
	if page := scrape(t, st.srv); !strings.Contains(page, "portcullis_tls_client_crls_expired 1\n") {
		t.Errorf("/metrics lacks portcullis_tls_client_crls_expired 1:\n%s", page)
	}
	if l := logs.String(); !strings.Contains(l, `"level":"error"`) || !strings.Contains(l, "client CRL expired") || !strings.Contains(l, `"issuer":"CN=client CA"`) {
		t.Errorf("the log does not say, as an error, that the client CA's CRL expired:\n%s", l)
	}
	// A request without a certificate is not the CRL's business.
	if r, err := tlsCall(t, st.addr, c.roots, nil, "GET", "/v1/users/7", key(hrisKey)); err != nil || r.status != 200 {
		t.Errorf("API key without a certificate: %d %v, want 200", r.status, err)
	}
}

// TestTLSClientCRLBadFiles: the sidecar refuses to start on a CRL file
// that does not load, naming the file, and for a CRL no client CA signed
// also its issuer: one of another CA, even one whose name is the client
// CA's (the signature is what counts); a file that is no CRL; a CRL file
// without a client CA file.
func TestTLSClientCRLBadFiles(t *testing.T) {
	c := newCRLCase(t)
	impostor := newAuthority(t, "client CA") // same name, another key
	stranger := newAuthority(t, "stranger CA")
	now := time.Now()
	cases := []struct {
		name  string
		crl   []byte
		noCA  bool
		wants []string
	}{
		{"signed by a CA of the same name", crlPEM(impostor.crl(t, now, now.Add(time.Hour))), false, []string{"client.crl", `"CN=client CA"`, "not signed by a CA of the client CA file", "the CA of that name: x509: ECDSA verification failure"}},
		{"signed by another CA", stranger.crl(t, now, now.Add(time.Hour)), false, []string{"client.crl", `"CN=stranger CA"`}},
		{"a good CRL then another CA's", crlPEM(c.clientCA.crl(t, now, now.Add(time.Hour)), stranger.crl(t, now, now.Add(time.Hour))), false, []string{"client.crl", "CRL 2", "stranger CA"}},
		{"a certificate, not a CRL", c.clientCA.pem, false, []string{"client.crl", `"CERTIFICATE"`}},
		{"not PEM nor DER", []byte("revoked: admin\n"), false, []string{"client.crl", "neither PEM nor DER"}},
		{"empty", nil, false, []string{"client.crl", "holds no CRL"}},
		{"no client CA file", crlPEM(c.clientCA.crl(t, now, now.Add(time.Hour))), true, []string{"client.crl", "needs a client CA file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := *c.files
			withCRL(t, &files, tc.crl)
			if tc.noCA {
				files.ClientCAFile = ""
			}
			_, err := New(Config{Store: &policy.Store{}, Upstream: "127.0.0.1:1", TLS: &files})
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestTLSClientCRLReload: a new CRL written over the file (a Secret
// update) is picked up without a restart: a certificate it revokes is
// refused at its next handshake, and on a connection it opened before
// and kept alive its next request is 401, audited cert_revoked with
// method mtls (not silently served until the connection closes). A CRL
// file that then fails to verify keeps the CRL in force, logged and
// counted as a failed reload.
func TestTLSClientCRLReload(t *testing.T) {
	c := newCRLCase(t)
	now := time.Now()
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, crlPEM(c.clientCA.crl(t, now.Add(-time.Hour), now.Add(time.Hour), c.admin.serial)))
	})
	swapDoc(t, st.store, mtlsPolicy)
	kept, err := dialTLS(st.addr, c.roots, &c.hris.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.c.Close()
	if r, err := kept.send("GET", "/v1/users/7", nil); err != nil || r.status != 200 {
		t.Fatalf("hris before the reload: %d %v, want 200", r.status, err)
	}

	writeFile(t, c.files.ClientCRLFile, crlPEM(c.clientCA.crl(t, now, now.Add(time.Hour), c.admin.serial, c.hris.serial)))
	pollUntil(t, "a new handshake of the certificate the new CRL revokes is refused", func() (bool, string) {
		status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7")
		return err != nil, fmt.Sprintf("status %d", status)
	})
	r, err := kept.send("GET", "/v1/users/7", nil)
	if err != nil || r.status != 401 {
		t.Fatalf("kept-alive connection of the certificate revoked since: %d %v, want 401", r.status, err)
	}
	// Its own record, found by its request id: the refused handshakes of
	// the poll above are audited too (bad_request), and one came after
	// it in a CI run.
	e := r.errorBody(t)
	if rec := st.sink.withRequestID(t, e.RequestID); rec.Decision != audit.CertRevoked || rec.AuthMethod != audit.AuthMTLS || string(rec.Client) != "" {
		t.Errorf("audit record: decision %v, method %v, client %q; want cert_revoked, mtls, none", rec.Decision, rec.AuthMethod, rec.Client)
	}
	if e.Error != "unauthenticated" {
		t.Errorf("error %q, want unauthenticated (a revoked certificate is answered as a wrong credential)", e.Error)
	}

	failed := st.srv.certs.failed.Load()
	writeFile(t, c.files.ClientCRLFile, crlPEM(newAuthority(t, "client CA").crl(t, now, now.Add(time.Hour))))
	pollUntil(t, "the reload of a CRL no client CA signed fails", func() (bool, string) {
		n := st.srv.certs.failed.Load()
		return n > failed, fmt.Sprintf("%d failed loads", n)
	})
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err == nil {
		t.Errorf("after a CRL file that does not verify: status %d, want the CRL in force to refuse hris", status)
	}
	// Each check fails again until the file is fixed: at least one.
	if page := scrape(t, st.srv); !regexp.MustCompile(`(?m)^portcullis_tls_reload_failures_total [1-9]`).MatchString(page) {
		t.Errorf("/metrics does not count the failed reload:\n%s", page)
	}
}

// TestTLSClientCRLNextUpdateBoundsKeptAliveConnection: a connection kept
// alive authenticates no longer than the CRL that let its handshake
// through is current, as a new handshake after its nextUpdate would be
// refused: its request after the nextUpdate (by the key clock, which
// also bounds the certificate's own expiry) is 401.
func TestTLSClientCRLNextUpdateBoundsKeptAliveConnection(t *testing.T) {
	c := newCRLCase(t)
	now := time.Now()
	crl := c.clientCA.crl(t, now.Add(-time.Hour), now.Add(10*time.Minute))
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, crlPEM(crl))
		cfg.KeyClock = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	swapDoc(t, st.store, mtlsPolicy)
	kept, err := dialTLS(st.addr, c.roots, &c.hris.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.c.Close()
	if r, err := kept.send("GET", "/v1/users/7", nil); err != nil || r.status != 200 {
		t.Fatalf("before the CRL's nextUpdate: %d %v, want 200", r.status, err)
	}
	clock.Store(now.Add(11 * time.Minute).UnixNano())
	if r, err := kept.send("GET", "/v1/users/7", nil); err != nil || r.status != 401 {
		t.Errorf("after the CRL's nextUpdate, on the kept-alive connection: %d %v, want 401", r.status, err)
	}
}

// resumingClient dials with a session cache, so a second dial resumes
// the first's TLS session.
func resumingDial(addr string, roots *x509.CertPool, cert *tls.Certificate, cache tls.ClientSessionCache) (*tlsClient, error) {
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", ClientSessionCache: cache,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &tlsClient{c: c, br: bufio.NewReader(c)}, nil
}

// TestTLSClientCRLRefusesResumedSession: a TLS session resumed after a
// reload revoked its client certificate is refused too: resumption skips
// the certificate's verification, not the CRL check.
func TestTLSClientCRLRefusesResumedSession(t *testing.T) {
	c := newCRLCase(t)
	now := time.Now()
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, crlPEM(c.clientCA.crl(t, now.Add(-time.Hour), now.Add(time.Hour))))
	})
	swapDoc(t, st.store, mtlsPolicy)
	cache := tls.NewLRUClientSessionCache(4)
	first, err := resumingDial(st.addr, c.roots, &c.hris.tls, cache)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := first.send("GET", "/v1/users/7", nil); err != nil || r.status != 200 { // reads the session ticket too
		t.Fatalf("before the reload: %d %v, want 200", r.status, err)
	}
	first.c.Close()
	reloaded := st.srv.certs.reloaded.Load()
	writeFile(t, c.files.ClientCRLFile, crlPEM(c.clientCA.crl(t, now, now.Add(time.Hour), c.hris.serial)))
	pollUntil(t, "the CRL reloads", func() (bool, string) {
		n := st.srv.certs.reloaded.Load()
		return n > reloaded, fmt.Sprintf("%d reloads", n)
	})
	again, err := resumingDial(st.addr, c.roots, &c.hris.tls, cache)
	if err == nil {
		defer again.c.Close()
		if !again.c.ConnectionState().DidResume {
			t.Fatal("the second handshake did not resume the session: the test proves nothing")
		}
		var r reply
		if r, err = again.send("GET", "/v1/users/7", nil); err == nil {
			t.Errorf("resumed session of a certificate revoked since: %d, want the handshake refused", r.status)
		}
	}
}
