package dataplane

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// authority is a test CA: it issues the listener's and the clients'
// certificates.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial atomic.Int64

func nextSerial() *big.Int { return big.NewInt(serial.Add(1)) }

func newAuthority(t *testing.T, name string) *authority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf is an issued certificate: PEM files' contents and the tls form.
type leaf struct {
	certPEM, keyPEM []byte
	tls             tls.Certificate
	serial          *big.Int
}

// issue returns a certificate for subject cn with the given URI SANs: a
// server certificate for 127.0.0.1, or a client certificate.
func (a *authority) issue(t *testing.T, cn string, uris []string, server bool) leaf {
	t.Helper()
	return a.issueName(t, pkix.Name{CommonName: cn, Organization: []string{"Acme"}}, uris, server)
}

// issueName is issue for the subject name.
func (a *authority) issueName(t *testing.T, name pkix.Name, uris []string, server bool) leaf {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: name,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	return a.sign(t, tmpl)
}

// sign issues tmpl from a for a new P-256 key.
func (a *authority) sign(t *testing.T, tmpl *x509.Certificate) leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := leaf{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		serial:  tmpl.SerialNumber,
	}
	if l.tls, err = tls.X509KeyPair(l.certPEM, l.keyPEM); err != nil {
		t.Fatal(err)
	}
	return l
}

// writeFile writes b to path through a rename, as a Secret update swaps
// its files.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsFiles writes the listener's certificate and key, and the client CA
// when there is one, and returns the TLS config naming them.
func tlsFiles(t *testing.T, server leaf, clientCA *authority) *TLS {
	t.Helper()
	dir := t.TempDir()
	files := &TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), Reload: 20 * time.Millisecond}
	writeFile(t, files.CertFile, server.certPEM)
	writeFile(t, files.KeyFile, server.keyPEM)
	if clientCA != nil {
		files.ClientCAFile = filepath.Join(dir, "client-ca.crt")
		writeFile(t, files.ClientCAFile, clientCA.pem)
	}
	return files
}

// pollUntil polls cond until it holds, failing after a generous deadline
// (the machine may be loaded).
func pollUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s (%s)", what, detail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tlsClient is one kept-alive TLS connection to the sidecar.
type tlsClient struct {
	c  *tls.Conn
	br *bufio.Reader
}

// dialTLS opens a TLS connection to addr trusting roots, presenting cert
// when it is not nil, whichever CAs the server names (as an attacker
// would); the error is the handshake's.
func dialTLS(addr string, roots *x509.CertPool, cert *tls.Certificate) (*tlsClient, error) {
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &tlsClient{c: c, br: bufio.NewReader(c)}, nil
}

// send sends one request on the connection, keeping it alive, and reads
// the response; the error is the connection's (a client certificate the
// server refused shows here under TLS 1.3).
func (tc *tlsClient) send(method, target string, headers map[string]string) (reply, error) {
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: svc\r\n", method, target)
	for k, v := range headers {
		if k != "body" {
			req += k + ": " + v + "\r\n"
		}
	}
	body := headers["body"] // not a header: the request body
	if method == "PUT" || method == "POST" {
		req += fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	// A body refused before it is read (its credential checked from the
	// head, prebody.go) may fail to be written whole: the sidecar closes
	// the connection after its answer, which came first and is read.
	_, werr := io.WriteString(tc.c, req+"\r\n"+body)
	resp, err := http.ReadResponse(tc.br, nil)
	if err != nil {
		if werr != nil {
			return reply{}, werr
		}
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// tlsCall dials, sends one request and closes.
func tlsCall(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate, method, target string, headers map[string]string) (reply, error) {
	t.Helper()
	tc, err := dialTLS(addr, roots, cert)
	if err != nil {
		return reply{}, err
	}
	defer tc.c.Close()
	return tc.send(method, target, headers)
}

const (
	adminSPIFFE = "spiffe://cluster.local/ns/acme/sa/admin"
	strangerID  = "spiffe://cluster.local/ns/acme/sa/stranger"
)

// mtlsPolicy requires a client certificate on the privileged class and
// maps the admin's SPIFFE ID, and the HRIS integration's subject, to their
// clients.
func mtlsPolicy(d *policy.Document) {
	for i := range d.Classes {
		if d.Classes[i].Name == "privileged" {
			d.Classes[i].AuthMethods = []string{"mtls"}
		}
	}
	for i := range d.Clients {
		switch d.Clients[i].ID {
		case "acme-admin":
			d.Clients[i].MTLSIdentities = []string{adminSPIFFE}
		case "acme-hris":
			d.Clients[i].MTLSIdentities = []string{"subject:CN=hris,O=Acme"}
		}
	}
}

// Over real TLS on loopback with --client-ca: a privileged class that
// requires mtls denies a request without a client certificate, even with
// a valid API key (403) and without any credential (401); a certificate
// of another CA fails the handshake and reaches nothing; a certificate
// whose SPIFFE ID a client names is admitted as that client, the
// upstream and the audit record say auth method mtls; one whose subject a
// client names is that client; a verified certificate no client names is
// 401. Before, the sidecar served no TLS and the policy had no mtls.
func TestTLSClientCertificates(t *testing.T) {
	serverCA, clientCA, otherCA := newAuthority(t, "server CA"), newAuthority(t, "client CA"), newAuthority(t, "other CA")
	files := tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), clientCA)
	st := startStack(t, func(c *Config) { c.TLS = files })
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	admin := clientCA.issue(t, "admin", []string{adminSPIFFE}, false)
	stranger := clientCA.issue(t, "stranger", []string{strangerID}, false)
	hris := clientCA.issue(t, "hris", nil, false)
	forged := otherCA.issue(t, "admin", []string{adminSPIFFE}, false)

	cases := []struct {
		name       string
		cert       *tls.Certificate
		method     string
		target     string
		headers    map[string]string
		wantStatus int // 0: the connection fails
		wantClient string
		wantMethod audit.AuthMethod
	}{
		{"no certificate, API key", nil, "PUT", "/v1/admin/settings", key(adminKey), 403, "acme-admin", audit.AuthAPIKey},
		{"no certificate, no credential", nil, "PUT", "/v1/admin/settings", nil, 401, "", audit.AuthNone},
		{"certificate of another CA", &forged.tls, "PUT", "/v1/admin/settings", nil, 0, "", 0},
		{"mapped SPIFFE ID", &admin.tls, "PUT", "/v1/admin/settings", nil, 200, "acme-admin", audit.AuthMTLS},
		{"mapped subject", &hris.tls, "GET", "/v1/users/7", nil, 200, "acme-hris", audit.AuthMTLS},
		{"unmapped SPIFFE ID", &stranger.tls, "PUT", "/v1/admin/settings", nil, 401, "", audit.AuthMTLS},
		{"mapped certificate, route beyond its scopes", &hris.tls, "PUT", "/v1/admin/settings", nil, 403, "acme-hris", audit.AuthMTLS},
		// Bodies above the 16 KiB read before authentication: the
		// certificate is checked before the body too (preDecide,
		// TestMTLSTenantRefusedBeforeBody).
		{"mapped SPIFFE ID, 20 KiB body", &admin.tls, "POST", "/v1/exports", map[string]string{"body": strings.Repeat("x", 20<<10)}, 200, "acme-admin", audit.AuthMTLS},
		{"unmapped SPIFFE ID, 20 KiB body", &stranger.tls, "POST", "/v1/exports", map[string]string{"body": strings.Repeat("x", 20<<10)}, 401, "", audit.AuthMTLS},
		{"no certificate, no credential, 20 KiB body", nil, "POST", "/v1/exports", map[string]string{"body": strings.Repeat("x", 20<<10)}, 401, "", audit.AuthNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(st.up.received())
			r, err := tlsCall(t, st.addr, roots, tc.cert, tc.method, tc.target, tc.headers)
			if tc.wantStatus == 0 {
				if err == nil {
					t.Fatalf("status %d, want the handshake to fail", r.status)
				}
				t.Logf("refused: %v", err)
				if got := len(st.up.received()); got != before {
					t.Errorf("the upstream got %d requests, want none", got-before)
				}
				return
			}
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if r.status != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.wantStatus)
			}
			rec := st.sink.lastOf(t, tc.target) // not a refused handshake's, recorded late
			if rec.AuthMethod != tc.wantMethod || string(rec.Client) != tc.wantClient {
				t.Errorf("audit record: auth method %v, client %q; want %v, %q", rec.AuthMethod, rec.Client, tc.wantMethod, tc.wantClient)
			}
			if tc.wantStatus != 200 {
				r.errorBody(t)
				return
			}
			got := st.up.received()
			h := got[len(got)-1].headers
			if h["x-portcullis-auth-method"] != "mtls" || h["x-portcullis-client"] != tc.wantClient {
				t.Errorf("upstream identity headers: auth method %q, client %q; want mtls, %q", h["x-portcullis-auth-method"], h["x-portcullis-client"], tc.wantClient)
			}
		})
	}
}

// A listener without --client-ca asks for no certificate, and a
// certificate presented anyway authenticates nobody: the client is
// unknown, so a request without a credential is 401.
func TestTLSWithoutClientCA(t *testing.T) {
	serverCA, clientCA := newAuthority(t, "server CA"), newAuthority(t, "client CA")
	st := startStack(t, func(c *Config) { c.TLS = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), nil) })
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	admin := clientCA.issue(t, "admin", []string{adminSPIFFE}, false)
	r, err := tlsCall(t, st.addr, roots, &admin.tls, "PUT", "/v1/admin/settings", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 401 {
		t.Errorf("status %d, want 401", r.status)
	}
	if r, err := tlsCall(t, st.addr, roots, nil, "GET", "/v1/users/7", key(hrisKey)); err != nil || r.status != 200 {
		t.Errorf("API key over TLS: status %d, %v; want 200", r.status, err)
	}
}

// Rotating the certificate files (as a Secret update does) changes the
// certificate new handshakes get, without a restart, while a connection
// opened before keeps serving; files that do not load (a certificate
// without its key) keep the certificate in force.
func TestTLSCertificateReload(t *testing.T) {
	ca := newAuthority(t, "server CA")
	first, second := ca.issue(t, "sidecar", nil, true), ca.issue(t, "sidecar", nil, true)
	files := tlsFiles(t, first, nil)
	st := startStack(t, func(c *Config) { c.TLS = files })
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	served := func(c *tlsClient) *big.Int { return c.c.ConnectionState().PeerCertificates[0].SerialNumber }

	old, err := dialTLS(st.addr, roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.c.Close()
	if r, err := old.send("GET", "/v1/status", nil); err != nil || r.status != 200 {
		t.Fatalf("before the rotation: status %d, %v", r.status, err)
	}
	if got := served(old); got.Cmp(first.serial) != 0 {
		t.Fatalf("served certificate %v, want the first, %v", got, first.serial)
	}

	writeFile(t, files.KeyFile, second.keyPEM)
	writeFile(t, files.CertFile, second.certPEM)
	pollUntil(t, "a new handshake gets the rotated certificate", func() (bool, string) {
		c, err := dialTLS(st.addr, roots, nil)
		if err != nil {
			return false, err.Error()
		}
		defer c.c.Close()
		got := served(c)
		return got.Cmp(second.serial) == 0, fmt.Sprintf("serial %v", got)
	})
	if r, err := old.send("GET", "/v1/status", nil); err != nil || r.status != 200 {
		t.Errorf("the connection opened before the rotation: status %d, %v; want 200", r.status, err)
	}

	failed := st.srv.certs.failed.Load()
	writeFile(t, files.CertFile, first.certPEM) // the key is still the second's: no pair
	pollUntil(t, "the reload of a mismatched pair fails", func() (bool, string) {
		n := st.srv.certs.failed.Load()
		return n > failed, fmt.Sprintf("%d failed loads", n)
	})
	c, err := dialTLS(st.addr, roots, nil)
	if err != nil {
		t.Fatalf("after a rotation that does not load: %v", err)
	}
	defer c.c.Close()
	if got := served(c); got.Cmp(second.serial) != 0 {
		t.Errorf("after files that do not load, served serial %v, want the one in force, %v", got, second.serial)
	}
}

// New refuses TLS files that do not load, naming the file.
func TestTLSBadFiles(t *testing.T) {
	ca := newAuthority(t, "server CA")
	files := tlsFiles(t, ca.issue(t, "sidecar", nil, true), nil)
	files.KeyFile = filepath.Join(t.TempDir(), "missing.key")
	_, err := New(Config{Store: &policy.Store{}, Upstream: "127.0.0.1:1", TLS: files})
	if err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Errorf("New with a missing key file: %v, want an error naming it", err)
	}
}

// A URI SAN spelled "subject:" and a distinguished name is not the
// certificate's subject: a certificate for CN=intern that a CA signed with
// the URI SAN "subject:CN=hris,O=Acme" (a CA that copies requested URI
// SANs, or a SPIFFE-style issuer with a loose template) must not
// authenticate as the client whose policy names the subject CN=hris. The
// subject identity comes from the certificate's subject only. Before, the
// URI SAN printed to the very string of the mapped subject, and the
// request was admitted as acme-hris.
func TestTLSURISANSpelledAsSubject(t *testing.T) {
	serverCA, clientCA := newAuthority(t, "server CA"), newAuthority(t, "client CA")
	st := startStack(t, func(c *Config) { c.TLS = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), clientCA) })
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	for _, san := range []string{"subject:CN=hris,O=Acme", "SUBJECT:CN=hris,O=Acme"} {
		intern := clientCA.issue(t, "intern", []string{san}, false)
		before := len(st.up.received())
		r, err := tlsCall(t, st.addr, roots, &intern.tls, "GET", "/v1/users/7", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 401 {
			t.Errorf("URI SAN %q on CN=intern: status %d (%s), want 401", san, r.status, r.body)
		}
		if got := len(st.up.received()); got != before {
			t.Errorf("URI SAN %q: the upstream got %d requests, want none", san, got-before)
		}
	}
}

// A certificate whose subject holds two common names is no subject
// identity: Go's parsed subject keeps only the last CN (and the last
// serialNumber), so "O=Acme, CN=intern, CN=hris", issued by a CA that
// checked the requester's first CN, printed as CN=hris,O=Acme and
// authenticated as acme-hris (an outside review).
func TestTLSSubjectWithTwoCommonNames(t *testing.T) {
	serverCA, clientCA := newAuthority(t, "server CA"), newAuthority(t, "client CA")
	st := startStack(t, func(c *Config) { c.TLS = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), clientCA) })
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	serialNumber := asn1.ObjectIdentifier{2, 5, 4, 5}
	for name, extra := range map[string][]pkix.AttributeTypeAndValue{
		"two CNs":           {{Type: cn, Value: "intern"}, {Type: cn, Value: "hris"}},
		"two serialNumbers": {{Type: cn, Value: "hris"}, {Type: serialNumber, Value: "1"}, {Type: serialNumber, Value: "2"}},
	} {
		c := clientCA.issueName(t, pkix.Name{Organization: []string{"Acme"}, ExtraNames: extra}, nil, false)
		r, err := tlsCall(t, st.addr, roots, &c.tls, "GET", "/v1/users/7", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 401 {
			t.Errorf("%s: status %d (%s), want 401", name, r.status, r.body)
		}
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("the upstream got %d requests, want none", n)
	}
	hris := clientCA.issue(t, "hris", nil, false)
	if r, err := tlsCall(t, st.addr, roots, &hris.tls, "GET", "/v1/users/7", nil); err != nil || r.status != 200 {
		t.Errorf("CN=hris,O=Acme: %v %d %s, want 200", err, r.status, r.body)
	}
}

// A kept-alive connection stops authenticating as its client certificate
// once the certificate has expired: short-lived certificates (SPIFFE
// SVIDs of an hour) are how mTLS revokes, and before, the identities
// worked out on the connection's first request were trusted for as long
// as the client kept the connection busy. The key clock stands in for
// time passing.
func TestTLSExpiredCertificateOnKeptAliveConnection(t *testing.T) {
	serverCA, clientCA := newAuthority(t, "server CA"), newAuthority(t, "client CA")
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	st := startStack(t, func(c *Config) {
		c.TLS = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), clientCA)
		c.KeyClock = func() time.Time { return time.Unix(0, now.Load()) }
	})
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	admin := clientCA.issue(t, "admin", []string{adminSPIFFE}, false) // valid for an hour
	tc, err := dialTLS(st.addr, roots, &admin.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.c.Close()
	if r, err := tc.send("PUT", "/v1/admin/settings", nil); err != nil || r.status != 200 {
		t.Fatalf("first request = %d %v, want 200", r.status, err)
	}
	now.Add(int64(2 * time.Hour))
	r, err := tc.send("PUT", "/v1/admin/settings", nil)
	if err != nil {
		t.Fatalf("second request on the connection: %v", err)
	}
	if r.status != 401 {
		t.Errorf("request after the certificate expired = %d %s, want 401", r.status, r.body)
	}
	if n := len(st.up.received()); n != 1 {
		t.Errorf("the upstream got %d requests, want 1", n)
	}
}

// twoClientCAs starts an mTLS stack whose client CA file trusts two CAs,
// an old and a new one, under mtlsPolicy; roots verify its certificate.
func twoClientCAs(t *testing.T) (st *stack, files *TLS, roots *x509.CertPool, oldCA, newCA *authority) {
	t.Helper()
	serverCA := newAuthority(t, "server CA")
	oldCA, newCA = newAuthority(t, "old client CA"), newAuthority(t, "new client CA")
	files = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), oldCA)
	writeFile(t, files.ClientCAFile, append(append([]byte(nil), oldCA.pem...), newCA.pem...))
	st = startStack(t, func(c *Config) { c.TLS = files })
	swapDoc(t, st.store, mtlsPolicy)
	roots = x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	return st, files, roots, oldCA, newCA
}

// Taking a CA out of the client CA file (a compromised or retired CA)
// ends the authentication of the connections its certificates opened, on
// their next request, not only of new handshakes: before, a connection
// kept alive went on authenticating as the client after the reload. A
// certificate of a CA still trusted keeps its connection.
func TestTLSClientCARemovedOnKeptAliveConnection(t *testing.T) {
	st, files, roots, oldCA, newCA := twoClientCAs(t)
	fromOld := oldCA.issue(t, "admin", []string{adminSPIFFE}, false)
	fromNew := newCA.issue(t, "hris", nil, false)
	oldConn, err := dialTLS(st.addr, roots, &fromOld.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer oldConn.c.Close()
	newConn, err := dialTLS(st.addr, roots, &fromNew.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer newConn.c.Close()
	if r, err := oldConn.send("PUT", "/v1/admin/settings", nil); err != nil || r.status != 200 {
		t.Fatalf("old CA's certificate before the reload = %d %v, want 200", r.status, err)
	}
	if r, err := newConn.send("GET", "/v1/users/7", nil); err != nil || r.status != 200 {
		t.Fatalf("new CA's certificate before the reload = %d %v, want 200", r.status, err)
	}
	reloaded := st.srv.certs.reloaded.Load()
	writeFile(t, files.ClientCAFile, newCA.pem)
	pollUntil(t, "the client CA file reloads", func() (bool, string) {
		n := st.srv.certs.reloaded.Load()
		return n > reloaded, fmt.Sprintf("%d reloads", n)
	})
	if r, err := oldConn.send("PUT", "/v1/admin/settings", nil); err != nil || r.status != 401 {
		t.Errorf("old CA's certificate on its kept-alive connection after the reload = %d %v, want 401", r.status, err)
	}
	if r, err := newConn.send("GET", "/v1/users/7", nil); err != nil || r.status != 200 {
		t.Errorf("new CA's certificate on its kept-alive connection after the reload = %d %v, want 200", r.status, err)
	}
}

// TestTLSMaxTokenAgeBindsCertificates: a privileged class's max_token_age
// runs for a client certificate from its notBefore. The test certificates
// were issued an hour ago: refused under a 30-minute bound (401
// token_too_old), admitted under a two-hour one.
func TestTLSMaxTokenAgeBindsCertificates(t *testing.T) {
	serverCA, clientCA := newAuthority(t, "server CA"), newAuthority(t, "client CA")
	st := startStack(t, func(c *Config) { c.TLS = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), clientCA) })
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	admin := clientCA.issue(t, "admin", []string{adminSPIFFE}, false)
	for _, c := range []struct {
		age    string
		status int
	}{{"30m", 401}, {"2h", 200}} {
		swapDoc(t, st.store, func(d *policy.Document) {
			mtlsPolicy(d)
			for i := range d.Classes {
				if d.Classes[i].Name == "privileged" {
					d.Classes[i].MaxTokenAge = c.age
				}
			}
		})
		r, err := tlsCall(t, st.addr, roots, &admin.tls, "PUT", "/v1/admin/settings", nil)
		if err != nil {
			t.Fatalf("max_token_age %s: %v", c.age, err)
		}
		if r.status != c.status {
			t.Errorf("max_token_age %s, certificate an hour old: got %d %s, want %d", c.age, r.status, r.body, c.status)
		} else if c.status == 401 && r.errorBody(t).Error != "token_too_old" {
			t.Errorf("max_token_age %s: error %s, want token_too_old", c.age, r.body)
		}
	}
}

// TestTLSReloadSurvivesAFIFO: a FIFO swapped in at the certificate's name
// held the reload poll in open(2) for good, waiting for a writer, so no
// later rotation ever loaded (and Close waited on the poll for ever). It
// is now a failed load like any other: counted, the certificate in force
// kept, and the next good files load.
func TestTLSReloadSurvivesAFIFO(t *testing.T) {
	ca := newAuthority(t, "server CA")
	first, second := ca.issue(t, "sidecar", nil, true), ca.issue(t, "sidecar", nil, true)
	files := tlsFiles(t, first, nil)
	st := startStack(t, func(c *Config) { c.TLS = files })
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	failed := st.srv.certs.failed.Load()
	fifo := files.CertFile + ".fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	if err := os.Rename(fifo, files.CertFile); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the reload of a FIFO fails", func() (bool, string) {
		n := st.srv.certs.failed.Load()
		return n > failed, fmt.Sprintf("%d failed loads", n)
	})
	writeFile(t, files.KeyFile, second.keyPEM)
	writeFile(t, files.CertFile, second.certPEM)
	pollUntil(t, "a new handshake gets the rotated certificate", func() (bool, string) {
		c, err := dialTLS(st.addr, roots, nil)
		if err != nil {
			return false, err.Error()
		}
		defer c.c.Close()
		got := c.c.ConnectionState().PeerCertificates[0].SerialNumber
		return got.Cmp(second.serial) == 0, fmt.Sprintf("serial %v", got)
	})
}

// TestTLSClientCARemovedRefusesResumedSession: a TLS session resumed
// after a reload took its certificate's CA out of the client CA file does
// not authenticate as the certificate's client. A resumed session carries
// the chains verified at its first handshake, and a connection accepted
// after the reload is never checked again (recheck); what refuses it is
// crypto/tls, which (go1.26) declines to resume a session whose chain the
// CAs in force do not verify, so the handshake is a full one and fails.
// This guards that, should the Go version change.
func TestTLSClientCARemovedRefusesResumedSession(t *testing.T) {
	st, files, roots, oldCA, newCA := twoClientCAs(t)
	admin := oldCA.issue(t, "admin", []string{adminSPIFFE}, false)
	cache := tls.NewLRUClientSessionCache(4)
	first, err := resumingDial(st.addr, roots, &admin.tls, cache)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := first.send("PUT", "/v1/admin/settings", nil); err != nil || r.status != 200 { // reads the session ticket too
		t.Fatalf("before the reload: %d %v, want 200", r.status, err)
	}
	first.c.Close()
	reloaded := st.srv.certs.reloaded.Load()
	writeFile(t, files.ClientCAFile, newCA.pem)
	pollUntil(t, "the client CA file reloads", func() (bool, string) {
		n := st.srv.certs.reloaded.Load()
		return n > reloaded, fmt.Sprintf("%d reloads", n)
	})
	again, err := resumingDial(st.addr, roots, &admin.tls, cache)
	if err != nil {
		return // refused at the handshake
	}
	defer again.c.Close()
	if r, err := again.send("PUT", "/v1/admin/settings", nil); err == nil && r.status == 200 {
		t.Errorf("session of a certificate whose CA was taken out (resumed: %v): %d, want it refused", again.c.ConnectionState().DidResume, r.status)
	}
}

// TestTLS12CBCRefused: over real TLS on loopback, a TLS 1.2 client that
// offers only an ECDHE suite with AES-CBC and HMAC-SHA1 (or SHA-256) fails
// the handshake, one that offers an AEAD suite (GCM, ChaCha20-Poly1305) is
// served, and TLS 1.3 is served. Before, the listener took Go's default
// suites, CBC ones among them.
func TestTLS12CBCRefused(t *testing.T) {
	ca := newAuthority(t, "server CA")
	st := startStack(t, func(c *Config) { c.TLS = tlsFiles(t, ca.issue(t, "sidecar", nil, true), nil) })
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		cfg.RootCAs, cfg.ServerName = roots, "127.0.0.1"
		return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", st.addr, cfg)
	}
	for _, suite := range []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	} {
		c, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			c.Close()
			t.Errorf("TLS 1.2 offering only %s: handshake done; want it refused", tls.CipherSuiteName(suite))
		}
	}
	for _, cfg := range []*tls.Config{
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
		{MinVersion: tls.VersionTLS13},
	} {
		c, err := dial(cfg)
		if err != nil {
			t.Errorf("offering %v (max version %x): %v; want it served", cfg.CipherSuites, cfg.MaxVersion, err)
			continue
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		tc := &tlsClient{c: c, br: bufio.NewReader(c)}
		r, err := tc.send("GET", "/v1/users/7", key(hrisKey))
		c.Close()
		if err != nil || r.status != 200 {
			t.Errorf("%s: status %d, %v; want 200", tls.CipherSuiteName(c.ConnectionState().CipherSuite), r.status, err)
		}
	}
}
