package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testCert issues a certificate signed by parent (self-signed CA when
// parent is nil) and returns it with its key, PEM-encoded.
func testCert(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// The sidecar with --tls-cert, --tls-key and --client-ca serves HTTPS; a
// client certificate carrying the SPIFFE ID that examples/policy.yaml maps
// to acme-admin reaches the privileged route as acme-admin, and the audit
// file says auth method mtls.
func TestSidecarServesMTLS(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	ca, caKey, caPEM, _ := testCert(t, caTmpl, nil, nil)
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sidecar"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/acme/sa/admin-console")
	_, _, cliPEM, cliKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "admin-console"},
		URIs: []*url.URL{spiffe}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	clientCert, err := tls.X509KeyPair(cliPEM, cliKey)
	if err != nil {
		t.Fatal(err)
	}

	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := sidecarFlags{policyFile: policyFile, listen: freeAddr(t), upstream: slowUpstream(t, 0), admin: freeAddr(t),
		auditFile: filepath.Join(dir, "audit.jsonl"), drain: 5 * time.Second, spoolDir: filepath.Join(dir, "spool"),
		tls: listenTLSFlags{cert: write("tls.crt", srvPEM), key: write("tls.key", srvKey), clientCA: write("ca.crt", caPEM), reload: time.Second}}
	if err := f.tls.check(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPut, "https://"+f.listen+"/v1/admin/settings", strings.NewReader("{}"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("PUT over mTLS: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("PUT /v1/admin/settings with the admin's certificate: %d, want 200", resp.StatusCode)
	}
	if _, err := http.Get("http://" + f.listen + "/v1/status"); err == nil {
		t.Errorf("plain HTTP to the TLS listener got a response")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	audit, err := os.ReadFile(f.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(audit), `"client":"acme-admin"`) || !strings.Contains(string(audit), `"auth_method":"mtls"`) {
		t.Errorf("audit file has no record of acme-admin by mtls:\n%s", audit)
	}
}

// The TLS flags that do not make a setup are usage errors naming the fix.
func TestSidecarTLSFlagErrors(t *testing.T) {
	t.Parallel()
	base := []string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", examplePolicy}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "a.crt"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "a.key"}, "--tls-cert and --tls-key go together"},
		{[]string{"--client-ca", "ca.crt"}, "--client-ca needs TLS on the listener"},
		{[]string{"--tls-cert", "a.crt", "--tls-key", "a.key", "--tls-reload", "0s"}, "--tls-reload must be positive"},
		{[]string{"--tls-cert", "a.crt", "--tls-key", "a.key", "--client-crl", "ca.crl"}, "--client-crl revokes client certificates: give --client-ca too"},
	} {
		r := portcullis(t, "", nil, append(base, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSuffix(r.stderr, "\n"), "\n") != 0 {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// --client-crl revokes client certificates: the sidecar refuses at the
// handshake a certificate its CA's CRL lists and serves another of that
// CA; it refuses to start on a CRL that no --client-ca CA signed, naming
// the file and the CRL's issuer; and --help documents the flag.
func TestSidecarClientCRL(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	ca, caKey, caPEM, _ := testCert(t, caTmpl("test CA"), nil, nil)
	other, otherKey, _, _ := testCert(t, caTmpl("other CA"), nil, nil)
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sidecar"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	client := func(serial int64) tls.Certificate {
		spiffe, _ := url.Parse("spiffe://cluster.local/ns/acme/sa/admin-console")
		_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "admin-console"},
			URIs: []*url.URL{spiffe}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	revoked, good := client(3), client(4)
	crl := func(issuer *x509.Certificate, key *ecdsa.PrivateKey, serials ...int64) []byte {
		tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		for _, s := range serials {
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	tlsFlags := listenTLSFlags{cert: write("tls.crt", srvPEM), key: write("tls.key", srvKey), clientCA: write("ca.crt", caPEM),
		clientCRL: write("ca.crl", crl(ca, caKey, 3)), reload: time.Second}

	t.Run("revoked refused, other served", func(t *testing.T) {
		policyFile, err := filepath.Abs("../../examples/policy.yaml")
		if err != nil {
			t.Fatal(err)
		}
		f := sidecarFlags{policyFile: policyFile, listen: freeAddr(t), upstream: slowUpstream(t, 0), admin: freeAddr(t),
			auditFile: filepath.Join(dir, "audit.jsonl"), drain: 5 * time.Second, spoolDir: filepath.Join(dir, "spool"), tls: tlsFlags}
		if err := f.tls.check(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sidecar: %v", err)
			}
		}()
		poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		put := func(cert tls.Certificate) (int, error) {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
			defer c.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodPut, "https://"+f.listen+"/v1/admin/settings", strings.NewReader("{}"))
			resp, err := c.Do(req)
			if err != nil {
				return 0, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		if status, err := put(revoked); err == nil {
			t.Errorf("the revoked certificate: %d, want the handshake refused", status)
		}
		if status, err := put(good); err != nil || status != 200 {
			t.Errorf("the certificate the CRL does not list: %d %v, want 200", status, err)
		}
	})

	t.Run("CRL of another CA refused at start", func(t *testing.T) {
		bad := write("other.crl", crl(other, otherKey))
		r := portcullisWithin(t, 30*time.Second, "sidecar", "--upstream", "127.0.0.1:1", "--policy", examplePolicy,
			"--listen", freeAddr(t), "--admin", freeAddr(t), "--tls-cert", tlsFlags.cert, "--tls-key", tlsFlags.key,
			"--client-ca", tlsFlags.clientCA, "--client-crl", bad)
		if r.code == 0 || !strings.Contains(r.stderr, bad) || !strings.Contains(r.stderr, "CN=other CA") {
			t.Errorf("sidecar with another CA's CRL: exit %d, stderr %q; want an error naming %s and CN=other CA", r.code, r.stderr, bad)
		}
	})

	t.Run("help", func(t *testing.T) {
		if r := portcullis(t, "", nil, "sidecar", "--help"); !strings.Contains(r.stdout, "--client-crl FILE") {
			t.Errorf("sidecar --help does not document --client-crl FILE:\n%s", r.stdout)
		}
	})
}
