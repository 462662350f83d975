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
	// A burst of 100ms of tokens absorbs scheduler stalls on a loaded
	// machine: a taker descheduled for less than that loses nothing.
	rate, burst := 20_000.0, int64(2000)
	wall := 2 * time.Second
	if raceEnabled {
		rate, burst, wall = 5_000, 500, time.Second
	}
	l := NewLimit(int64(rate), time.Second, burst)
	tb := NewTable(Config{})
	var admitted, lastTry, maxGap atomic.Int64
	var wg sync.WaitGroup
	start := Now()
	lastTry.Store(start)
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
				if gap := now - lastTry.Swap(now); gap > maxGap.Load() {
					maxGap.Store(gap) // racy max, good enough to spot a stall
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
	t.Logf("admitted %.0f, bound %.0f (%.3f%%), longest pause between takes %v", got, limit, 100*got/limit, time.Duration(maxGap.Load()))
	if got > limit {
		t.Fatalf("admitted %.0f in %v, above the bound %.0f", got, wall, limit)
	}
	// Falling short is a limiter fault only if demand never paused for
	// longer than the burst lasts; on a starved machine the takers, not
	// the limiter, are what is slow, and only the upper bound is judged.
	if stall := time.Duration(maxGap.Load()); stall > time.Duration(float64(burst)/rate*float64(time.Second)) {
		t.Logf("takers stalled for %v, longer than the burst covers: lower bound not judged", stall)
		return
	}
	if math.Abs(got-limit) > limit/100 {
		t.Errorf("admitted %.0f in %v, want within 1%% of %.0f", got, wall, limit)
	}
}
