package limiter

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentAccuracy judges what the limiter decided, not how fast the
// machine ran (issue 13): the takers draw their times from one shared
// virtual clock that advances by a fixed step per attempt, so demand is
// ten times the rate by construction, however slowly or unevenly the
// goroutines are scheduled. They still race on one bucket, and a take may
// carry a time older than the bucket's last update (a goroutine drew its
// time, then lost the CAS). Whatever the interleaving, the admitted count
// must equal the burst plus the rate times the span, within 1%, and never
// exceed it.
func TestConcurrentAccuracy(t *testing.T) {
	t.Parallel()
	rate, burst := 20_000.0, int64(2000)
	span := 2 * time.Second
	if raceEnabled {
		rate, burst, span = 5_000, 500, time.Second
	}
	const demand = 10 // attempts per token the rate grants
	step := int64(float64(time.Second) / (rate * demand))
	l := NewLimit(int64(rate), time.Second, burst)
	tb := NewTable(Config{})
	start := Now()
	end := start + int64(span)
	var clock, admitted atomic.Int64
	clock.Store(start)
	var wg sync.WaitGroup
	for range max(4, 2*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := clock.Add(step)
				if now > end {
					return
				}
				if tb.AllowAt(42, l, now).OK {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	limit := float64(burst) + rate*span.Seconds()
	got := float64(admitted.Load())
	t.Logf("admitted %.0f, bound %.0f (%.3f%%)", got, limit, 100*got/limit)
	if got > limit {
		t.Fatalf("admitted %.0f in %v of virtual time, above the bound %.0f", got, span, limit)
	}
	if math.Abs(got-limit) > limit/100 {
		t.Errorf("admitted %.0f in %v of virtual time, want within 1%% of %.0f", got, span, limit)
	}
}
