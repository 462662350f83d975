package limiter

import (
	"math/big"
	"testing"
	"time"
)

// floorRate returns floor(events*T/per) exactly.
func floorRate(events int64, per time.Duration, T int64) int64 {
	q := new(big.Int).Mul(big.NewInt(events), big.NewInt(T))
	return q.Quo(q, big.NewInt(int64(per))).Int64()
}

// drain takes single tokens at now until one is denied and returns how
// many were admitted.
func drain(t *testing.T, tb *Table, key uint64, l Limit, now int64) int64 {
	t.Helper()
	var n int64
	for tb.AllowAt(key, l, now).OK {
		n++
		if n > 1<<24 {
			t.Fatalf("drain at %d: bucket never empties", now)
		}
	}
	return n
}

// countDense takes as fast as the bucket allows from start to end: it
// drains, then jumps to the RetryAfter of the denial. It returns the
// number admitted.
func countDense(t *testing.T, tb *Table, key uint64, l Limit, start, end int64) int64 {
	t.Helper()
	var n int64
	for now := start; now <= end; {
		n += drain(t, tb, key, l, now)
		r := tb.AllowAt(key, l, now)
		if r.OK || r.RetryAfter <= 0 {
			t.Fatalf("after drain at %d: got %+v, want a denial with RetryAfter", now, r)
		}
		now += int64(r.RetryAfter)
	}
	return n
}

func TestExactness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		events int64
		per    time.Duration
		burst  int64
	}{
		{1, time.Minute, 1},
		{1, time.Minute, 5},
		{7, time.Minute, 3},
		{3, time.Second, 1},
		{10, time.Second, 10},
		{100, time.Second, 20},
		{12345, time.Second, 100},
		{999_983, time.Second, 1000}, // prime: exact only in units of 1/999983 ns
		{1_000_000, time.Second, 1},
		{1_000_000, time.Second, 5000},
		{999_999, time.Hour, 7},
	}
	intervals := []int64{0, 1, 999, int64(time.Millisecond) + 7, int64(time.Second), int64(time.Minute) + 13, int64(3*time.Hour) + 1, int64(30 * 24 * time.Hour)}
	for _, tc := range tests {
		l := NewLimit(tc.events, tc.per, tc.burst)
		for _, T := range intervals {
			want := tc.burst + floorRate(tc.events, tc.per, T)
			if want > 1<<21 || raceEnabled && want > 1<<16 {
				continue // too many takes to count one by one
			}
			const start = int64(5 * time.Second)
			got := countDense(t, NewTable(Config{}), 1, l, start, start+T)
			if got != want {
				t.Errorf("%d/%v burst %d over %dns: admitted %d, want %d", tc.events, tc.per, tc.burst, T, got, want)
			}
		}
	}
}

func TestExactnessAcrossRebase(t *testing.T) {
	t.Parallel()
	// Scale 999983 rebases a busy bucket every 2^61/999983 ns (about
	// 38 min); a dense count across two rebases must stay exact.
	l := NewLimit(999_983, time.Hour, 10)
	T := 2*l.window + int64(time.Minute)
	got := countDense(t, NewTable(Config{}), 1, l, 0, T)
	if want := 10 + floorRate(999_983, time.Hour, T); got != want {
		t.Errorf("over %v: admitted %d, want %d", time.Duration(T), got, want)
	}
}

func TestRetryAfterExact(t *testing.T) {
	t.Parallel()
	for _, l := range []Limit{NewLimit(3, time.Second, 2), NewLimit(7, time.Minute, 1), NewLimit(999_983, time.Second, 10)} {
		tb := NewTable(Config{})
		const now = 1000
		drain(t, tb, 1, l, now)
		r := tb.AllowAt(1, l, now)
		if r.OK || r.RetryAfter <= 0 {
			t.Fatalf("%v: got %+v, want a denial with RetryAfter", l, r)
		}
		if tb.AllowAt(1, l, now+int64(r.RetryAfter)-1).OK {
			t.Errorf("%d/%v: admitted 1ns before RetryAfter %v", l.Events(), l.Per(), r.RetryAfter)
		}
		if !tb.AllowAt(1, l, now+int64(r.RetryAfter)).OK {
			t.Errorf("%d/%v: denied at RetryAfter %v", l.Events(), l.Per(), r.RetryAfter)
		}
	}
}

func TestResultFields(t *testing.T) {
	t.Parallel()
	l := NewLimit(10, time.Second, 5) // one token per 100ms
	tb := NewTable(Config{})
	r := tb.AllowAt(1, l, 0)
	if got, want := r, (Result{OK: true, Remaining: 4, Reset: 100 * time.Millisecond, Limit: l}); got != want {
		t.Errorf("first take: got %+v, want %+v", got, want)
	}
	r = tb.TakeNAt(1, l, 4, 0)
	if got, want := r, (Result{OK: true, Remaining: 0, Reset: 500 * time.Millisecond, Limit: l}); got != want {
		t.Errorf("take 4: got %+v, want %+v", got, want)
	}
	r = tb.TakeNAt(1, l, 2, int64(50*time.Millisecond))
	if got, want := r, (Result{Remaining: 0, RetryAfter: 150 * time.Millisecond, Reset: 450 * time.Millisecond, Limit: l}); got != want {
		t.Errorf("denied take 2: got %+v, want %+v", got, want)
	}
	if got := tb.TakeNAt(1, l, 6, 0); got.OK || got.RetryAfter != Forever {
		t.Errorf("take above burst: got %+v, want denial with RetryAfter Forever", got)
	}
}

func TestZeroAndDenyLimits(t *testing.T) {
	t.Parallel()
	tb := NewTable(Config{})
	for i := 0; i < 100; i++ {
		if !tb.AllowAt(1, Limit{}, 0).OK {
			t.Fatal("zero Limit denied a take")
		}
	}
	if tb.Len() != 0 {
		t.Errorf("zero Limit created %d buckets, want 0", tb.Len())
	}
	for _, l := range []Limit{NewLimit(0, time.Second, 10), NewLimit(5, 0, 10), NewLimit(-1, time.Second, 1)} {
		if l.IsZero() {
			t.Errorf("NewLimit(%d, %v) is the zero (unlimited) Limit", l.Events(), l.Per())
		}
		if r := tb.AllowAt(2, l, 0); r.OK || r.RetryAfter != Forever {
			t.Errorf("rate-zero limit: got %+v, want denial with RetryAfter Forever", r)
		}
	}
	if got := NewLimit(5, time.Second, 0).Burst(); got != 1 {
		t.Errorf("burst 0: Burst() = %d, want 1", got)
	}
}
