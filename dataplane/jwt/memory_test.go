package jwt

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCacheDefaultMemory bounds what a verifier's cache takes before any
// token arrives: every policy with an issuer pays it, and at 65536 entries
// it was 3.2 MiB of the sidecar's heap (issue 18).
func TestCacheDefaultMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := newCache(DefaultCacheEntries, DefaultCacheBytes)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	c.c.Close()
	const budget = 1 << 20
	got := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("the cache keeps %d bytes of heap", got)
	if got > budget {
		t.Errorf("newCache(%d) took %d bytes of heap, want at most %d", DefaultCacheEntries, got, budget)
	}
}

// TestCacheBytesCountScopes: the cache's byte budgets counted an entry by
// its token's length (plus 512) alone, but an entry keeps its claims
// decoded as well, and a scope list of one-byte scopes ("a a a ...")
// costs a 16-byte string header per two bytes of payload: an 8 KiB token
// of 2900 scopes kept some 60 KiB, so DefaultCacheBytes (8 MiB) held
// about 55 MiB of tokens an issuer scoped so (issue 18 wants the
// sidecar's peak RSS under 30 MB). An entry now counts its claims' strings
// and scope headers too: the heap the cache keeps stays near its budgets.
func TestCacheBytesCountScopes(t *testing.T) {
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	scope := strings.TrimSpace(strings.Repeat("a ", 2900))
	const n = 1500
	toks := make([][]byte, n)
	for i := range toks {
		toks[i] = sign(ks["HS256"], nil, claimsAt(now, map[string]any{"sub": fmt.Sprint("user-", i), "scope": scope}))
		if len(toks[i]) > DefaultMaxTokenBytes {
			t.Fatalf("token of %d bytes, want at most %d", len(toks[i]), DefaultMaxTokenBytes)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, tok := range toks {
		if _, st := v.Verify(tok, now); st != OK {
			t.Fatalf("token %d: %v", i, st)
		}
	}
	v.WaitCache()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(toks)
	const budget = DefaultCacheBytes + frontBytes + 4<<20 // 4 MiB of slack
	got := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("the cache keeps %d bytes of heap", got)
	if got > budget {
		t.Errorf("the cache keeps %d bytes of heap for %d tokens of %d scopes, want at most %d", got, n, 2900, budget)
	}
}
