package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestSidecarClientCAReadAtHandshake: the sidecar's --client-ca changed
// only at the --tls-reload poll (10 s by default), so the client
// certificates of a CA removed from the bundle (compromised) were served
// until the tick, while the collector reads its own at the next
// handshake. A change of the file is now read at the next handshake that
// looks (at most a second after the last look). The poll here is an
// hour: only that look can read it. A damaged file then keeps the CAs in
// force, logged once.
func TestSidecarClientCAReadAtHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sidecar over TLS")
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	authority := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		ca, key, caPEM, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
		return ca, key, caPEM
	}
	caA, keyA, pemA := authority("CA A")
	caB, keyB, pemB := authority("CA B")
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sidecar"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, caA, keyA)
	client := func(ca *x509.Certificate, key *ecdsa.PrivateKey) tls.Certificate {
		spiffe, _ := url.Parse("spiffe://cluster.local/ns/acme/sa/admin-console")
		_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "admin-console"},
			URIs: []*url.URL{spiffe}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, key)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := sidecarFlags{policyFile: policyFile, listen: freeAddr(t), upstream: slowUpstream(t, 0), admin: freeAddr(t),
		auditFile: filepath.Join(dir, "audit.jsonl"), drain: 5 * time.Second, spoolDir: filepath.Join(dir, "spool"),
		tls: listenTLSFlags{cert: write("tls.crt", srvPEM), key: write("tls.key", srvKey),
			clientCA: write("ca.crt", append(append([]byte{}, pemA...), pemB...)), reload: time.Hour}}
	if err := f.tls.check(); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.New(logs)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sidecar: %v", err)
		}
	}()
	poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })
	roots := x509.NewCertPool()
	roots.AddCert(caA)
	// served makes a new connection with cert and reports whether its
	// handshake passed: a response came, whatever its status (the
	// public route, out of the privileged one's rate limit). The
	// certificate is sent whatever CAs the sidecar names (crypto/tls's
	// Certificates sends none of a CA it does not name, and the public
	// route then serves the connection without one), as curl does.
	served := func(cert tls.Certificate) (bool, string) {
		send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, GetClientCertificate: send}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://" + f.listen + "/v1/status")
		if err != nil {
			return false, err.Error()
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return true, "status " + strconv.Itoa(resp.StatusCode)
	}
	ofA, ofB := client(caA, keyA), client(caB, keyB)
	if ok, last := served(ofB); !ok {
		t.Fatalf("a certificate of CA B, in the client CA file: %s; want it served", last)
	}
	write("ca.crt", pemA) // CA B removed
	pollUntil(t, pollWait, "a certificate of CA B, removed from the client CA file, refused at a handshake", func() (bool, string) {
		ok, last := served(ofB)
		return !ok, last
	})
	if ok, last := served(ofA); !ok {
		t.Errorf("a certificate of CA A, still in the client CA file: %s; want it served", last)
	}
	// A file that does not parse keeps the CAs in force, said once.
	const failed = "TLS files changed but cannot be loaded"
	write("ca.crt", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	pollUntil(t, pollWait, "the damaged client CA file logged", func() (bool, string) {
		if ok, last := served(ofB); ok { // a handshake looks at the file
			t.Fatalf("a certificate of CA B after the client CA file was damaged: %s; want the CAs in force kept", last)
		}
		return strings.Contains(logs.String(), failed), "not logged"
	})
	for range 3 { // past the once-a-second look
		if ok, last := served(ofB); ok {
			t.Fatalf("a certificate of CA B after the client CA file was damaged: %s; want the CAs in force kept", last)
		}
		time.Sleep(1100 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), failed); n != 1 {
		t.Errorf("the damaged client CA file logged %d times; want once", n)
	}
	if ok, last := served(ofA); !ok {
		t.Errorf("a certificate of CA A, the client CA file damaged: %s; want it served", last)
	}
}
