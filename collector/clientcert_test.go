package collector

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// testCA is a certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key}
}

// client issues a client certificate for a sidecar.
func (ca testCA) client(t *testing.T, name string) tls.Certificate {
	t.Helper()
	return ca.issue(t, 2, &x509.Certificate{Subject: pkix.Name{CommonName: name}})
}

// serveCertCollector serves col over TLS with its own HTTP server
// settings, asking for a client certificate of a fresh test CA, which it
// returns to issue them; the server closes with the test.
func serveCertCollector(t *testing.T, col *Collector) (*httptest.Server, testCA) {
	t.Helper()
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(col)
	srv.Config = col.HTTPServer()
	srv.Config.Handler = col
	srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, ca
}

// A collector configured for client certificates (and no token) stores the
// batches of a sidecar presenting a certificate from its CA, refuses a
// sender without one (401) and fails the handshake of one from another CA.
func TestCollectorClientCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	col, err := New(st, Config{ClientCertAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	ca, other := newTestCA(t), newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(col)
	srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	clientWith := func(certs ...tls.Certificate) *http.Client {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		return &http.Client{Transport: tr, Timeout: 5 * time.Second}
	}

	cfg := fastConfig(srv.URL, t.TempDir())
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	cfg.TLS = &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{ca.client(t, "sidecar-1")}}
	e, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r := sampleRecord(i)
		e.Emit(&r)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// A slow handshake (-race on a loaded machine) can outlast the test's
	// 30 ms retry budget: the batch is then spooled and replayed, which
	// also proves the collector accepted the certificate.
	if s := e.Stats(); s.Delivered+s.Replayed != 10 || s.Rejected != 0 {
		t.Errorf("with a trusted client certificate: stats %+v, want 10 delivered or replayed", s)
	}
	recs := storedRecords(t, dir)
	if got := len(recs); got != 10 {
		t.Errorf("stored %d records, want 10", got)
	}
	for _, r := range recs {
		if r.Sender != "cert:sidecar-1" {
			t.Fatalf("record stored with sender %q, want the certificate's identity cert:sidecar-1", r.Sender)
		}
	}

	post := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", strings.NewReader(`{"resourceLogs":[]}`))
		req.Header.Set("Content-Type", FormatJSON)
		return c.Do(req)
	}
	resp, err := post(clientWith())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a client certificate: status %d, want 401", resp.StatusCode)
	}
	if resp, err := post(clientWith(other.client(t, "intruder"))); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate from another CA got status %d; the handshake must fail", resp.StatusCode)
	}
}

func parseLeaf(c tls.Certificate) (*x509.Certificate, error) {
	return x509.ParseCertificate(c.Certificate[0])
}
