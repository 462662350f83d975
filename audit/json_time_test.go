package audit

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTimeAsRFC3339Nano holds appendTime to time.RFC3339Nano: every
// day boundary and leap day from 1970 to 2262, fractions with trailing
// zeros, and random instants over the whole int64 range (negative ones
// take the time package's own path).
func TestAppendTimeAsRFC3339Nano(t *testing.T) {
	t.Parallel()
	check := func(ns int64) {
		t.Helper()
		if got, want := string(appendTime(nil, ns)), time.Unix(0, ns).UTC().Format(time.RFC3339Nano); got != want {
			t.Fatalf("appendTime(%d) = %s, want %s", ns, got, want)
		}
	}
	for _, ns := range []int64{0, 1, 10, 100, 1e8, 999999999, 1e9, 1e9 + 5e8, math.MaxInt64, -1, -1e9, math.MinInt64} {
		check(ns)
	}
	const day = 86400 * int64(time.Second)
	for d := int64(0); d < math.MaxInt64/day; d++ {
		check(d * day)
		check(d*day - 1 + day)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		ns := rng.Int64()
		check(ns)
		check(ns / 1000 * 1000)
		check(ns / 1e9 * 1e9)
		check(-ns)
	}
}
