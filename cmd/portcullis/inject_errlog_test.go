package main

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestInjectorLogsConnectionErrorsAsJSON: every pod reaches the webhook's
// port (review66, review67), and its server had no ErrorLog, so each
// connection that sent bytes which were not a TLS handshake wrote a
// plain-text line to stderr ("2026/12/05 ... http: TLS handshake error
// from ..."), outside the JSON log, at whatever rate a pod chose. The real
// injector process now logs them as the collector does
// (internal/serverlog): JSON warn lines, at most one a second.
func TestInjectorLogsConnectionErrorsAsJSON(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	_, stderr, _, _ := startInjector(t, pki)
	var mu sync.Mutex
	var lines []string
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l struct{ Message, Listen string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == "injector serving" {
				serving <- l.Listen
				continue
			}
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	var addr string
	select {
	case addr = <-serving:
	case <-time.After(60 * time.Second):
		t.Fatal("the injector did not say it serves within 60s")
	}
	const n = 20
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("\x16\x03\x01\x00\x05hello-not-a-handshake"))
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		c.Read(make([]byte, 64)) // until the injector closes it
		c.Close()
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
	for deadline := time.Now().Add(30 * time.Second); len(got()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no line on stderr after 20 failed handshakes")
		}
	}
	ls := got()
	if len(ls) >= n {
		t.Errorf("%d lines on stderr for %d failed handshakes; want at most one a second: %q", len(ls), n, ls)
	}
	for _, l := range ls {
		var v struct{ Level, Message, Error string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Level != "warn" || !strings.Contains(v.Error, "TLS handshake error") {
			t.Fatalf("stderr line %q: want a JSON warn line naming the TLS handshake error (%v)", l, err)
		}
	}
}
