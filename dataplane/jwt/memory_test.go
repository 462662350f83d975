package jwt

import (
	"runtime"
	"testing"
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
	if got := int64(after.HeapAlloc) - int64(before.HeapAlloc); got > budget {
		t.Errorf("newCache(%d) took %d bytes of heap, want at most %d", DefaultCacheEntries, got, budget)
	}
}
