package audit

import (
	"bufio"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tests in this file are findings of an outside attack on the merged
// fixes of issues 12, 13 and 21. Each fails on the code it was written
// against; the lead fixes or skips it.

// Finding: --allow-unsigned-tail judges a forged entry by the time written
// in the entry itself, which the forger chooses. A correctly hashed,
// unsigned entry dated in the future is "younger" than any allowance
// (Now.Sub(future) is negative), so `audit verify --allow-unsigned-tail 2m`
// calls the store intact for as long as the forged tail stays the tail.
func TestAttackUnsignedTailDatedInFuture(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 3)
	defer st.Close()
	segs, _, _ := listSegments(dir)
	now := time.Now()
	forgeBatch(t, dir, segs[len(segs)-1], "forged-future", now.AddDate(10, 0, 0))

	// An hour later, a 2-minute allowance must not cover the forged entry.
	rep, err := VerifyWith(dir, pub, VerifyOptions{AllowUnsignedTail: 2 * time.Minute, Now: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWhat(rep, ProblemUnsignedTail) {
		t.Fatalf("verify with --allow-unsigned-tail 2m, one hour after a forged entry dated ten years ahead: problems = %v, want %q (unsigned = %d)",
			rep.Problems, ProblemUnsignedTail, rep.Unsigned)
	}
}

// hasWhat reports whether rep holds a problem of kind what.
func hasWhat(rep *VerifyReport, what string) bool {
	for _, p := range rep.Problems {
		if p.What == what {
			return true
		}
	}
	return false
}

// Finding: an unauthenticated "GET /v1/logs" is answered 405 before the
// sender is checked, and neither the 405 nor the path rule (only paths
// other than /v1/logs get Connection: close) closes the connection. A
// client without a token keeps its unauthenticated connection open
// indefinitely by repeating the request, where the README promises 5 s
// for the headers and a closed connection after the answer.
func TestAttackUnauthenticatedGetLogsKeepsConnection(t *testing.T) {
	t.Parallel()
	srv, _ := startNamedCollector(t, t.TempDir(), newTestKey(t), CollectorConfig{UnauthTimeout: 200 * time.Millisecond})
	c := dialRaw(t, srv.URL)
	io.WriteString(c, "GET /v1/logs HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated GET /v1/logs: status %d, want 401 (authentication before the method)", resp.StatusCode)
	}
	if !closedByServer(c) {
		t.Error("unauthenticated GET /v1/logs: the connection stays open after the answer")
	}
}

// Finding: the spool aggregation of issue 21 item 10 folds only denials
// that carry no credential at all, so the flood it was built against
// passes unfolded once each request adds any credential header: the data
// plane records "X-API-Key: pk_zzz_x" as auth_method api_key (with a key
// id when the key is well formed) and "Authorization: Bearer junk" as
// auth_method jwt, though neither verified (checked with bin/portcullis
// and --audit-file). 30,000 such 401s while the collector is down fill
// the spool, and the records of a real, authenticated caller that follow
// are dropped.
func TestAttackSpoolFloodWithBogusCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := NewCollector(st, CollectorConfig{Token: aliceToken})
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		col.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { gate.Close(); st.Close() })
	cfg := fastConfig(gate.URL, t.TempDir())
	cfg.Token, cfg.SpoolMaxBytes, cfg.CloseTimeout = aliceToken, 512<<10, time.Minute
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(r *Record) {
		for !e.Emit(r) {
			time.Sleep(time.Millisecond)
		}
	}
	const flood, real = 30_000, 200
	srcs := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("2001:db8::3")}
	for i := range flood {
		var r Record
		r.Time, r.Status, r.Decision, r.SourceIP, r.Route = time.Now().UnixNano(), 401, Unauthenticated, srcs[i%3], "/v1/users"
		r.AuthMethod = AuthAPIKey // "X-API-Key: pk_<i>_x": parsed, never verified
		r.SetKeyID([]byte(itoa(i)))
		r.SetMethod([]byte("GET"))
		r.SetPath([]byte("/v1/users"))
		emit(&r)
	}
	for i := range real {
		r := sampleRecord(i) // an authenticated caller, allowed
		r.Time = time.Now().UnixNano()
		r.SetRequestID([]byte("real-" + itoa(i)))
		emit(&r)
	}
	waitFor(t, "everything captured to reach the spool", func() bool {
		s := e.Stats()
		return s.Spooled+s.Aggregated+s.DroppedSpool >= flood+real
	})
	if s := e.Stats(); s.DroppedSpool != 0 {
		t.Errorf("a flood of 401s with bogus API keys while the collector was down: %+v; want no record dropped (the flood folded)", s)
	}
	up.Store(true)
	e.Close()
	got := 0
	for _, r := range storedRecords(t, dir) {
		if strings.HasPrefix(r.RequestID, "real-") {
			got++
		}
	}
	if got != real {
		t.Errorf("records of the authenticated caller stored: %d, want %d", got, real)
	}
}
