package main

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInjectorRereadsClientCAOfSameSizeAndTime: the files the injector
// re-reads (--client-ca, --tls-cert and --tls-key) were taken for
// unchanged while their size and modification time were: a CA replaced
// by one of the same size (a certificate of the same key type and names)
// whose modification time was kept (cp -p, tar, rsync -t) was never
// read, the old CA required until a restart. A file replaced or
// rewritten has another inode or change time, which no one sets.
func TestInjectorRereadsClientCAOfSameSizeAndTime(t *testing.T) {
	old, rotated := newTestPKI(t), newTestPKI(t)
	oldPEM, err := os.ReadFile(old.caFile)
	if err != nil {
		t.Fatal(err)
	}
	newPEM, err := os.ReadFile(rotated.caFile)
	if err != nil {
		t.Fatal(err)
	}
	// Text after a PEM block is ignored: pad the shorter to the other's size.
	if d := len(newPEM) - len(oldPEM); d > 0 {
		oldPEM = append(oldPEM, bytes.Repeat([]byte("\n"), d)...)
	} else {
		newPEM = append(newPEM, bytes.Repeat([]byte("\n"), -d)...)
	}
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, oldPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(caFile, stamp, stamp); err != nil {
		t.Fatal(err)
	}
	_, stderr, _, _ := startInjector(t, old, "--client-ca", caFile)
	addr := waitListen(t, stderr)
	cert, err := tls.LoadX509KeyPair(rotated.clientCert, rotated.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	// As cp -p replaces it: written in place, its time set back.
	if err := os.WriteFile(caFile, newPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(caFile, stamp, stamp); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, err := apiServerReview(addr, old, []tls.Certificate{cert})
		if err == nil && code == http.StatusOK {
			break
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("30 s after --client-ca was replaced by a CA of the same size and time, a certificate of its new CA is still refused: %d, %v", code, lastErr)
		}
	}
}
