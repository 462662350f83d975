package etcdsync_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Config.User is the common name of the certificate Dial presents: read
// as Dial reads it. A file holding the key before the certificate (one
// file given as both --cert and --key) dials etcd as "ops-alice", and
// User, which decoded only the first PEM block, said "": the request and
// the grant recorded no etcd user for the two-person rule to compare.
func TestConfigUserReadsTheCertificateDialPresents(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ops-alice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crt, k := write("crt.pem", certPEM), write("key.pem", keyPEM)
	both := write("both.pem", append(append([]byte{}, keyPEM...), certPEM...))
	for _, c := range []struct {
		name string
		cfg  etcdsync.Config
		want string
	}{
		{"certificate and key apart", etcdsync.Config{Cert: crt, Key: k}, "ops-alice"},
		{"key before the certificate in one file", etcdsync.Config{Cert: both, Key: both}, "ops-alice"},
		{"a username is the user", etcdsync.Config{Username: "bob", Cert: crt, Key: k}, "bob"},
		{"no certificate", etcdsync.Config{}, ""},
	} {
		if got := c.cfg.User(); got != c.want {
			t.Errorf("%s: User() = %q; want %q", c.name, got, c.want)
		}
	}
}
