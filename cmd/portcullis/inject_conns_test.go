//go:build !race

// These tests measure the injector process's resident memory, and the
// child is this test binary: under the race detector its shadow memory
// multiplies every figure (127 idle connections grew it by 61 MiB in CI,
// 7 MiB without), so they run in make test's pass without -race.

package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

// TestInjectorCapsConnections: the NetworkPolicy lets every pod reach
// the webhook's port, and the injector took every connection: an idle
// HTTP/2 one costs it about 48 KiB, and 1,200 of them (from a few pods'
// addresses) took its resident memory up by over 50 MiB, 2,000 by 95
// MiB, past its 128Mi limit: OOM-killed replicas stop pod creation in
// every labelled namespace (failurePolicy Fail) and let the opted-in
// pods of the others start without the sidecar (Ignore). Its
// connections are now capped (inject.MaxConns, inject.MaxConnsPerPeer),
// those past the caps closed unread, and a connection the API server
// opened before the flood is still served.
func TestInjectorCapsConnections(t *testing.T) {
	pki := newTestPKI(t)
	cmd, stderr, _, _ := startInjector(t, pki)
	addr := waitListen(t, stderr)

	// The API server's connection, kept alive.
	apiServer := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}, ForceAttemptHTTP2: true}}
	post := func() int {
		resp, err := apiServer.Post("https://"+addr+"/inject", "application/json", bytes.NewReader([]byte(
			`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Namespace"},"operation":"CREATE","object":{}}}`)))
		if err != nil {
			t.Fatalf("the API server's review: %v", err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("the API server's review: status %d, want 200", code)
	}

	before := residentKiB(t, cmd.Process.Pid)
	held := 0
	for i := range 1200 {
		// From 75 loopback addresses, 16 each: a few pods' worth.
		local := &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.1.%d", 1+i/16))}
		d := &net.Dialer{LocalAddr: local}
		c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pki.pool, NextProtos: []string{"h2"}})
		if err != nil {
			continue // closed past a cap
		}
		t.Cleanup(func() { c.Close() })
		// An HTTP/2 client's preface: the server sets the connection up.
		if _, err := c.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err == nil {
			held++
		}
	}
	grew := (residentKiB(t, cmd.Process.Pid) - before) >> 10
	t.Logf("%d connections set up; resident memory grew by %d MiB", held, grew)
	if grew > 32 {
		t.Errorf("1,200 idle HTTP/2 connections took the injector's resident memory up by %d MiB, want at most 32 (its limit is 128Mi)", grew)
	}
	if code := post(); code != http.StatusOK {
		t.Errorf("the API server's review on its kept-alive connection after the flood: status %d, want 200", code)
	}
}
