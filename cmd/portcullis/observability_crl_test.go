package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// crlMetrics runs a sidecar with TLS, a client CA and its CRL
// (--client-crl), whose /metrics serves the client CRL families that a
// sidecar without them does not, and returns its /metrics page, and the
// series a collector given the same CA and CRL (--client-ca,
// --client-crl) adds to its own page.
func crlMetrics(t *testing.T) (sidecarPage, collectorSeries string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, caKey, caPEM, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, nil)
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sidecar"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(48 * time.Hour)}, ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	f := runInProcess(t, sidecarFlags{policyFile: examplePolicy, auditFile: filepath.Join(dir, "audit.jsonl"), spoolDir: filepath.Join(dir, "spool"),
		tls: listenTLSFlags{cert: write("tls.crt", srvPEM), key: write("tls.key", srvKey), clientCA: write("ca.crt", caPEM),
			clientCRL: write("ca.crl", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})), reload: time.Second}})
	code, page := body(t, "http://"+f.admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics answered %d", code)
	}
	log := zerolog.Nop()
	crl, err := loadIntakeCRL(filepath.Join(dir, "ca.crl"), filepath.Join(dir, "ca.crt"), caPEM, &log)
	if err != nil {
		t.Fatal(err)
	}
	var series strings.Builder
	crl.writeMetrics(&series)
	return page, series.String()
}
