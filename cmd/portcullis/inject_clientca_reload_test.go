package main

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInjectorRereadsClientCA: --client-ca was read at start only, so a
// rotated CA of the API server's client certificate (the cluster's, its
// file updated in the injector's volume) was required only after a
// restart, and until then every review failed its handshake. The file
// is now read again when it changes: a certificate of the new CA is
// served, one of the old refused.
func TestInjectorRereadsClientCA(t *testing.T) {
	old, rotated := newTestPKI(t), newTestPKI(t)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	copyFile(t, old.caFile, caFile)
	_, stderr, _, _ := startInjector(t, old, "--client-ca", caFile)
	addr := waitListen(t, stderr)
	load := func(p testPKI) []tls.Certificate {
		cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{cert}
	}
	if code, err := apiServerReview(addr, old, load(rotated)); err == nil {
		t.Fatalf("a certificate of a CA not in --client-ca: status %d; want the handshake refused", code)
	}
	copyFile(t, rotated.caFile, caFile)
	var lastErr error
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, err := apiServerReview(addr, old, load(rotated))
		if err == nil && code == http.StatusOK {
			break
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("60 s after --client-ca was replaced, a certificate of its new CA is still refused: %d, %v", code, lastErr)
		}
	}
	if code, err := apiServerReview(addr, old, load(old)); err == nil {
		t.Errorf("a certificate of the CA replaced in --client-ca: status %d; want the handshake refused", code)
	}
}

// TestInjectorKeepsClientCAItCannotLoad: a --client-ca file replaced by
// one it cannot load (a failed rotation) keeps the CAs loaded before in
// force, with one warn line naming it, and an info line once it loads
// again.
func TestInjectorKeepsClientCAItCannotLoad(t *testing.T) {
	pki := newTestPKI(t)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	copyFile(t, pki.caFile, caFile)
	_, stderr, _, _ := startInjector(t, pki, "--client-ca", caFile)
	addr, waitLine := watchInjectorLog(t, stderr, 60*time.Second, &tls.Config{RootCAs: pki.pool})
	if err := os.WriteFile(caFile+".new", []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(caFile+".new", caFile); err != nil {
		t.Fatal(err)
	}
	if l := waitLine("client CA file refused"); !strings.Contains(l, `"level":"warn"`) || !strings.Contains(l, caFile) {
		t.Errorf("a refused --client-ca file logged as %s; want a warn line naming %s", l, caFile)
	}
	cert, err := tls.LoadX509KeyPair(pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := apiServerReview(addr, pki, []tls.Certificate{cert}); err != nil || code != http.StatusOK {
		t.Errorf("with --client-ca unloadable, a certificate of the CA loaded before: %d, %v; want 200", code, err)
	}
	copyFile(t, pki.caFile, caFile)
	waitLine("client CA file loaded again")
}
