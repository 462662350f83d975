package clientcrl

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// TestAppendNextUpdate: the one writer of the nextUpdate series, which the
// sidecar and the collector both serve (each had its own, the collector's
// building a strings.Replacer per CRL per scrape): a sample per CRL with a
// nextUpdate, the CA's subject escaped as a label value (a quote, a
// backslash and a line feed in a CA's name), negative past nextUpdate,
// nothing for a nil Set. (crypto/x509 cannot write a CRL without
// nextUpdate, the case of no sample.)
func TestAppendNextUpdate(t *testing.T) {
	now := time.Now().Truncate(time.Second) // a CRL holds whole seconds
	odd := newTestCA(t, "odd \"CA\" \\ with\nline")
	plain := newTestCA(t, "plain CA")
	data := append(odd.crl(t, now.Add(-2*time.Hour), now.Add(-time.Hour)), plain.crl(t, now.Add(-time.Minute), now.Add(3*time.Hour))...)
	set, err := Parse("crl.pem", data, "ca.pem", []*x509.Certificate{odd.cert, plain.cert})
	if err != nil {
		t.Fatal(err)
	}
	got := string(set.AppendNextUpdate([]byte("# before\n"), now))
	want := "# before\n" +
		NextUpdateMetric + `{issuer="CN=odd \\\"CA\\\" \\\\ with\nline",ca_key="` + KeyID(odd.cert.RawSubjectPublicKeyInfo) + `"} -3600` + "\n" +
		NextUpdateMetric + `{issuer="CN=plain CA",ca_key="` + KeyID(plain.cert.RawSubjectPublicKeyInfo) + `"} 10800` + "\n"
	if got != want {
		t.Errorf("AppendNextUpdate:\n%s\nwant:\n%s", got, want)
	}
	if got := (*Set)(nil).AppendNextUpdate(nil, now); len(got) != 0 {
		t.Errorf("nil Set appended %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { set.AppendNextUpdate(make([]byte, 0, 512), now) }); n > 1 {
		t.Errorf("AppendNextUpdate allocates %v times, want at most the buffer", n)
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, cn string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// crl returns a PEM CRL of ca listing nothing.
func (ca testCA) crl(t *testing.T, this, next time.Time) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: this, NextUpdate: next}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}
