package collector

import (
	"bufio"
	"crypto/ed25519"
	"io"
	"net/http"
	"testing"
	"time"
)

// The tests in this file are findings of an outside attack on the merged
// fixes of issues 12, 13 and 21; each failed on the code it was written
// against.

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
	srv, _ := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{UnauthTimeout: 200 * time.Millisecond})
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
