package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The collector read its intake's --tls-cert and --tls-key once, at
// start: a renewed certificate (cert-manager renewing the Secret, the
// kubelet updating the mounted files) was not served until a restart,
// and once the old one expired every sidecar's handshake failed and its
// batches spooled. It now re-reads the files when they change, as the
// injector does, and keeps the certificate in force while they are bad.
func TestCollectorServesRenewedCertificate(t *testing.T) {
	t.Parallel()
	first, second := newTestPKI(t), newTestPKI(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile(t, first.serverCert, certFile)
	copyFile(t, first.serverKey, keyFile)
	key, _ := signingKeyFile(t)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("s1 0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startChild(t, "", nil, true, "collector", "--data", filepath.Join(dir, "data"), "--signing-key", key, "--token-file", tokens,
		"--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile)
	handshake := func(pki testPKI) error {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.pool})
		if err == nil {
			c.Close()
		}
		return err
	}
	pollUntil(t, obsWait, "the first certificate served", func() (bool, string) {
		err := handshake(first)
		return err == nil, errString(err)
	})
	copyFile(t, second.serverCert, certFile)
	copyFile(t, second.serverKey, keyFile)
	pollUntil(t, obsWait, "the renewed certificate served", func() (bool, string) {
		err := handshake(second)
		return err == nil, errString(err)
	})
	if err := os.WriteFile(certFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the files are checked at most once a second
	if err := handshake(second); err != nil {
		t.Errorf("with the certificate file garbage: %v; want the renewed certificate kept in force", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
