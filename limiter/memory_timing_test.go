package limiter

import (
	"runtime"
	"testing"
)

// BenchmarkLiveBuckets1M is a take on one of 1,000,000 live buckets (each
// taken once, none idle), in turn, and reports the heap they hold:
// B/bucket and MiB for the million (issue 18: the limiter's memory at 1
// million live buckets; BytesPerKey is the bound TestBytesPerKey holds).
func BenchmarkLiveBuckets1M(b *testing.B) {
	const keys = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := NewTable(Config{MaxKeys: 1 << 20})
	now := Now()
	for k := uint64(0); k < keys; k++ {
		if !tb.AllowAt(k, benchLimit, now).OK {
			b.Fatalf("key %d denied while filling", k)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := tb.Len(); n != keys {
		b.Fatalf("%d buckets live, want %d", n, keys)
	}
	held := float64(after.HeapAlloc - before.HeapAlloc)
	b.ReportAllocs()
	b.ResetTimer()
	k := uint64(0)
	for b.Loop() {
		tb.AllowAt(k, benchLimit, now)
		if k++; k == keys {
			k = 0
		}
	}
	b.ReportMetric(held/keys, "B/bucket")
	b.ReportMetric(held/(1<<20), "MiB")
}
