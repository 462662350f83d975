package limiter

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentAccuracy(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs for 2s of wall time")
	}
	// The takers must outrun the rate for the whole window, or admitted
	// falls short for want of demand, not for a limiter fault: the race
	// detector slows takes about tenfold, so it gets a lower rate.
	rate, burst := 50_000.0, int64(2000) // 40ms of burst absorbs scheduler stalls
	wall := 2 * time.Second
	if raceEnabled {
		rate, burst, wall = 5_000, 200, time.Second
	}
	l := NewLimit(int64(rate), time.Second, burst)
	tb := NewTable(Config{})
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := Now()
	tb.AllowAt(42, l, start) // the bucket starts full at start
	admitted.Add(1)
	end := start + int64(wall)
	for g := 0; g < max(4, 2*runtime.GOMAXPROCS(0)); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := Now()
				if now >= end {
					return
				}
				if tb.AllowAt(42, l, now).OK {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Every take used a now in [start, end), so the bound is exact; the
	// bucket is busy the whole time, so admitted may fall short only by
	// the goroutines that lost the race near the end.
	limit := float64(burst) + rate*float64(end-start)/float64(time.Second)
	got := float64(admitted.Load())
	if got > limit || math.Abs(got-limit) > limit/100 {
		t.Errorf("admitted %.0f in %v, want within 1%% of %.0f and never above", got, wall, limit)
	}
	t.Logf("admitted %.0f, bound %.0f (%.3f%%)", got, limit, 100*got/limit)
}
