package collector

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// issue issues a client certificate from ca as tmpl says (its names),
// filling in the rest.
func (ca testCA) issue(t *testing.T, serial int64, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestCertIdentityNeverShared: a batch is filed, and its id deduplicated,
// under its sender's certificate identity. Two certificates with no name
// at all were both sender "cert:", and two whose SPIFFE ids differ only
// after 256 bytes (the cap) were one sender: the second's batch under an
// id the first had used was answered 200 as a duplicate and never stored,
// and their records stood under one sender. A certificate naming no one
// is now refused 401, and an identity over the cap is cut and followed by
// the SHA-256 of the whole of it.
func TestCertIdentityNeverShared(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, ca := certCollector(t, dir, Config{})
	send := func(cert tls.Certificate, id string) int {
		t.Helper()
		code, _ := sendAs(t, srv, cert, id, sampleRecord(1))
		return code
	}

	nameless1, nameless2 := ca.issue(t, 10, &x509.Certificate{}), ca.issue(t, 11, &x509.Certificate{})
	for i, c := range []tls.Certificate{nameless1, nameless2} {
		if got := send(c, "nameless-1"); got != http.StatusUnauthorized {
			t.Errorf("certificate %d naming no one: %d, want 401", i+1, got)
		}
	}

	long := "spiffe://cluster.local/ns/" + strings.Repeat("n", 260)
	uriA, _ := url.Parse(long + "/sa/tenant-a")
	uriB, _ := url.Parse(long + "/sa/tenant-b")
	for i, u := range []*url.URL{uriA, uriB} {
		if got := send(ca.issue(t, int64(20+i), &x509.Certificate{URIs: []*url.URL{u}}), "long-1"); got != http.StatusOK {
			t.Errorf("certificate of %.40s...%s: %d, want 200", u, u.Path[len(u.Path)-8:], got)
		}
	}
	senders := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		if r.Sender == "cert:" {
			t.Errorf("a record stored under the empty identity")
			continue
		}
		senders[r.Sender]++
		if len(r.Sender) > len("cert:")+maxFieldBytes || !strings.HasPrefix(r.Sender, "cert:spiffe://cluster.local/ns/nnn") {
			t.Errorf("sender %q: want the identity's start, within the field cap", r.Sender)
		}
	}
	if len(senders) != 2 {
		t.Errorf("records by sender %v; want one record under each of the two long identities", senders)
	}
}
