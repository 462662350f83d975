package main

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
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
