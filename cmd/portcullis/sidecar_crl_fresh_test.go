package main

import (
	"context"
	"crypto/ecdsa"
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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestSidecarClientCRLReadAtHandshake: the sidecar's --client-crl
// changed only at the --tls-reload poll (10 s by default), so a client
// certificate a CRL written since revokes was served until the tick. A
// change of the file is now read at the next handshake that looks (at
// most a second after the last look), as the collector's is. The poll
// here is an hour: only that look can read it. A damaged file then keeps
// the revocation, logged once.
func TestSidecarClientCRLReadAtHandshake(t *testing.T) {
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
	ca, caKey, caPEM, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, nil)
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
	crl := func(number int64, key *ecdsa.PrivateKey, serials ...int64) []byte {
		tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		for _, s := range serials {
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := sidecarFlags{policyFile: policyFile, listen: freeAddr(t), upstream: slowUpstream(t, 0), admin: freeAddr(t),
		auditFile: filepath.Join(dir, "audit.jsonl"), drain: 5 * time.Second, spoolDir: filepath.Join(dir, "spool"),
		tls: listenTLSFlags{cert: write("tls.crt", srvPEM), key: write("tls.key", srvKey), clientCA: write("ca.crt", caPEM),
			clientCRL: write("ca.crl", crl(1, caKey, 9)), reload: time.Hour}}
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
	roots.AddCert(ca)
	// served makes a new connection with cert and reports whether its
	// handshake passed: a response came, whatever its status (the
	// public route, out of the privileged one's rate limit).
	served := func(cert tls.Certificate) (bool, string) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://" + f.listen + "/v1/status")
		if err != nil {
			return false, err.Error()
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return true, "status " + strconv.Itoa(resp.StatusCode)
	}
	revoked, good := client(3), client(4)
	if ok, last := served(revoked); !ok {
		t.Fatalf("a certificate no CRL lists yet: %s; want it served", last)
	}
	write("ca.crl", crl(2, caKey, 3))
	pollUntil(t, pollWait, "the certificate the CRL written since lists refused at a handshake", func() (bool, string) {
		ok, last := served(revoked)
		return !ok, last
	})
	if ok, last := served(good); !ok {
		t.Errorf("a certificate the CRL does not list: %s; want it served", last)
	}
	// A file that does not parse keeps the CRLs in force, said once.
	const failed = "TLS files changed but cannot be loaded"
	write("ca.crl", []byte("-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n"))
	pollUntil(t, pollWait, "the damaged CRL file logged", func() (bool, string) {
		if ok, last := served(revoked); ok { // a handshake looks at the file
			t.Fatalf("the revoked certificate after the CRL file was damaged: %s; want the CRLs in force kept", last)
		}
		return strings.Contains(logs.String(), failed), "not logged"
	})
	for range 3 { // past the once-a-second look
		if ok, last := served(revoked); ok {
			t.Fatalf("the revoked certificate after the CRL file was damaged: %s; want the CRLs in force kept", last)
		}
		time.Sleep(1100 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), failed); n != 1 {
		t.Errorf("the damaged CRL file logged %d times; want once", n)
	}
	if ok, last := served(good); !ok {
		t.Errorf("a certificate the CRL does not list, the CRL file damaged: %s; want it served", last)
	}
}
