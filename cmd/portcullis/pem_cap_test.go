package main

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hugePEM writes a valid PEM certificate after 2 MiB of comment lines,
// which the PEM decoder skips: read whole, it loaded.
func hugePEM(t *testing.T, dir, name string, pemBytes []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	pad := bytes.Repeat([]byte("# padding, not PEM\n"), (2<<20)/19)
	if err := os.WriteFile(p, append(pad, pemBytes...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every PEM file flag of every command refuses a file over 1 MiB with a
// usage error naming the flag, the file and the cap: such a file was read
// whole into memory (and a valid certificate after 2 MiB of junk loaded).
func TestPEMFlagsAreCapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, IsCA: true, BasicConstraintsValid: true}, nil, nil)
	cert, key := filepath.Join(dir, "ok.crt"), filepath.Join(dir, "ok.key")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	bigCert, bigKey := hugePEM(t, dir, "big.crt", certPEM), hugePEM(t, dir, "big.key", keyPEM)
	sidecar := []string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", examplePolicy, "--listen", "127.0.0.1:0"}
	for _, tt := range []struct {
		flag string
		args []string
	}{
		{"tls-cert", append(sidecar, "--tls-cert", bigCert, "--tls-key", key)},
		{"tls-key", append(sidecar, "--tls-cert", cert, "--tls-key", bigKey)},
		{"client-ca", append(sidecar, "--tls-cert", cert, "--tls-key", key, "--client-ca", bigCert)},
		{"collector-cacert", append(sidecar, "--collector", "https://127.0.0.1:1", "--collector-cacert", bigCert, "--collector-cert", cert, "--collector-key", key)},
		{"collector-cert", append(sidecar, "--collector", "https://127.0.0.1:1", "--collector-cert", bigCert, "--collector-key", key)},
		{"collector-key", append(sidecar, "--collector", "https://127.0.0.1:1", "--collector-cert", cert, "--collector-key", bigKey)},
		{"tls-cert", []string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", filepath.Join(dir, "none"), "--tls-cert", bigCert, "--tls-key", key}},
		{"client-ca", []string{"collector", "--data", filepath.Join(dir, "data"), "--tls-cert", cert, "--tls-key", key, "--client-ca", bigCert}},
		{"tls-key", []string{"injector", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", bigKey}},
		{"etcd-cacert", []string{"keys", "list", "--etcd", "127.0.0.1:1", "--timeout", "1s", "--etcd-cacert", bigCert}},
		{"etcd-cacert", []string{"keys", "list", "--etcd", "127.0.0.1:1", "--timeout", "1s", "--cacert", bigCert}},
		{"etcd-cert", []string{"policy", "get", "--etcd", "127.0.0.1:1", "--timeout", "1s", "--etcd-cert", bigCert, "--etcd-key", key}},
		{"etcd-key", []string{"policy", "get", "--etcd", "127.0.0.1:1", "--timeout", "1s", "--etcd-cert", cert, "--etcd-key", bigKey}},
	} {
		r := portcullisWithin(t, 20e9, tt.args...)
		file := bigCert
		if strings.HasSuffix(tt.flag, "key") {
			file = bigKey
		}
		want := "--" + tt.flag + " " + file
		if r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "over the cap of 1 MiB") {
			t.Errorf("portcullis %s: exit %d, stderr %q; want exit 2 naming %q and the cap of 1 MiB", strings.Join(tt.args[:2], " "), r.code, r.stderr, want)
		}
	}
}
