package authn

import (
	"runtime"
	"testing"
)

// TestKeysDefaultMemory bounds what the data plane's key cache takes
// before any key arrives: at 65536 entries it was 3.4 MiB of the
// sidecar's heap (issue 18).
func TestKeysDefaultMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	k, err := NewKeys(DefaultCacheEntries)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	k.Close()
	const budget = 1 << 20
	if got := int64(after.HeapAlloc) - int64(before.HeapAlloc); got > budget {
		t.Errorf("NewKeys(%d) took %d bytes of heap, want at most %d", DefaultCacheEntries, got, budget)
	}
}
