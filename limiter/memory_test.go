//go:build !race

package limiter

import (
	"runtime"
	"testing"
	"time"
)

func TestBytesPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 1M keys")
	}
	const keys = 1 << 20
	l := NewLimit(1, time.Second, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := NewTable(Config{MaxKeys: keys})
	for k := uint64(0); k < keys*9/10; k++ {
		tb.AllowAt(k, l, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := tb.Len()
	got := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d keys: %.1f bytes per tracked key (BytesPerKey = %d)", n, got, BytesPerKey)
	if got > BytesPerKey {
		t.Errorf("measured %.1f bytes per key, above BytesPerKey %d", got, BytesPerKey)
	}
	runtime.KeepAlive(tb)
}
