//go:build !race

// These tests measure the injector process's resident memory, and the
// child is this test binary: under the race detector its shadow memory
// multiplies every figure (127 idle connections grew it by 61 MiB in CI,
// 7 MiB without), so they run in make test's pass without -race.

package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestInjectorBoundsRequestHeaders: the injector's request bodies are
// bounded with care (inject.maxBodyBytesHeld), but its headers were
// not: net/http's default lets each request hold 1 MiB of headers for
// the ReadHeaderTimeout, and the NetworkPolicy lets every pod reach the
// webhook's port. Sixty-four connections sending 1 MiB of header lines
// each, never ending them, took the injector's resident memory up by
// 80 MiB of its 128Mi limit (a hundred, past it): OOM-killed replicas stop pod
// creation in every labelled namespace (failurePolicy Fail) and let the
// opted-in pods of the others start without the sidecar (Ignore). The
// API server sends a few hundred bytes of headers; the injector now
// answers more than 16 KiB with 431 and closes the connection.
func TestInjectorBoundsRequestHeaders(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cmd, stderr, _, _ := startInjector(t, pki)
	addr := waitListen(t, stderr)
	peers := 0
	dial := func() *tls.Conn {
		// Each from an address of its own, within inject.MaxConnsPerPeer.
		peers++
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(peers))}}
		c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pki.pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	line := "X-Pad-%04d: " + strings.Repeat("a", 1000) + "\r\n"

	// One request with 64 KiB of headers: refused as too large.
	c := dial()
	fmt.Fprintf(c, "POST /inject HTTP/1.1\r\nHost: injector\r\nContent-Type: application/json\r\nContent-Length: 2\r\n")
	for i := range 64 {
		fmt.Fprintf(c, line, i)
	}
	fmt.Fprintf(c, "\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a request with 64 KiB of headers: status %d, want 431", resp.StatusCode)
	}

	// Sixty-four connections each sending 1 MiB of headers, unfinished.
	before := residentKiB(t, cmd.Process.Pid)
	for range 64 {
		c := dial()
		w := bufio.NewWriterSize(c, 64<<10)
		fmt.Fprintf(w, "POST /inject HTTP/1.1\r\nHost: injector\r\n")
		for i := range 1000 {
			if _, err := fmt.Fprintf(w, line, i); err != nil {
				break // refused and closed: as it should be
			}
		}
		_ = w.Flush()
	}
	grew := (residentKiB(t, cmd.Process.Pid) - before) >> 10
	t.Logf("resident memory grew by %d MiB", grew)
	if grew > 32 {
		t.Errorf("64 connections with 1 MiB of unfinished headers each took the injector's resident memory up by %d MiB, want at most 32 (its limit is 128Mi)", grew)
	}
}

// residentKiB is the resident memory of process pid (VmRSS).
func residentKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("cannot read the injector's memory: %v", err)
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Skip("no VmRSS in /proc/PID/status")
	return 0
}
