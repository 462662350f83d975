package limiter

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// benchLimit never denies at benchmark speeds, so every op is a full
// admitting take (the CAS path).
var benchLimit = NewLimit(1_000_000_000, time.Second, 1_000_000)

func BenchmarkAllow(b *testing.B) {
	b.ReportAllocs()
	tb := NewTable(Config{})
	for b.Loop() {
		tb.Allow(1, benchLimit)
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	b.ReportAllocs()
	tb := NewTable(Config{})
	var next atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		key := next.Add(1) * 0x9e3779b97f4a7c15 // distinct key per goroutine
		for pb.Next() {
			tb.Allow(key, benchLimit)
		}
	})
}

func BenchmarkAllowParallelSameKey(b *testing.B) {
	b.ReportAllocs()
	tb := NewTable(Config{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tb.Allow(1, benchLimit)
		}
	})
}

func BenchmarkAllowMany(b *testing.B) {
	b.ReportAllocs()
	const keys = 1_000_000
	tb := NewTable(Config{MaxKeys: 1 << 20})
	now := Now()
	for k := uint64(0); k < keys; k++ {
		tb.AllowAt(k, benchLimit, now)
	}
	b.ResetTimer()
	k := uint64(0)
	for b.Loop() {
		tb.AllowAt(k, benchLimit, now)
		if k++; k == keys {
			k = 0
		}
	}
}

func BenchmarkTake3(b *testing.B) {
	b.ReportAllocs()
	tb := NewTable(Config{})
	takes := []Take{{1, &benchLimit}, {2, &benchLimit}, {3, &benchLimit}}
	for b.Loop() {
		tb.TakeAt(takes, Now())
	}
}

// BenchmarkTakeAll3 is BenchmarkTake3 through TakeAll, which builds no
// Result for admitted takes.
func BenchmarkTakeAll3(b *testing.B) {
	b.ReportAllocs()
	tb := NewTable(Config{})
	takes := []Take{{1, &benchLimit}, {2, &benchLimit}, {3, &benchLimit}}
	for b.Loop() {
		tb.TakeAll(takes, Now())
	}
}

func BenchmarkConcurrency(b *testing.B) {
	b.ReportAllocs()
	c := NewConcurrency(ConcurrencyConfig{})
	for b.Loop() {
		if c.Acquire(1, 10, 0, 0, 0) {
			c.Release(1)
		}
	}
}

func BenchmarkXTimeRate(b *testing.B) {
	b.ReportAllocs()
	l := rate.NewLimiter(1_000_000_000, 1_000_000)
	for b.Loop() {
		l.Allow()
	}
}
