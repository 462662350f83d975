//go:build !race

package limiter

import (
	"testing"
	"time"
)

func TestAllocs(t *testing.T) {
	l := NewLimit(1_000_000, time.Second, 1000)
	tb := NewTable(Config{})
	c := NewConcurrency(ConcurrencyConfig{})
	l2, l3 := NewLimit(3, time.Second, 5), NewLimit(7, time.Minute, 100)
	takes := []Take{{1, &l}, {2, &l2}, {3, &l3}}
	now := int64(0)
	tb.TakeAt(takes, now)    // create the buckets
	c.Acquire(9, 2, 0, 0, 0) // size the map
	c.Release(9)
	denied := NewLimit(1, time.Hour, 1)
	var res Result
	tb.AllowAt(5, denied, 0)
	tests := []struct {
		name string
		f    func()
	}{
		{"AllowAt", func() { now++; tb.AllowAt(1, l, now) }},
		{"AllowAt denied", func() { tb.AllowAt(5, denied, now) }},
		{"Allow", func() { tb.Allow(1, l) }},
		{"TakeAt 3 buckets", func() { now += 1000; tb.TakeAt(takes, now) }},
		{"TakeAll 3 buckets", func() { now += 1000; tb.TakeAll(takes, now) }},
		{"TakeAllTo 3 buckets", func() { now += 1000; tb.TakeAllTo(takes, now, &res) }},
		{"RefundAt", func() { tb.RefundAt(1, l, 1, now) }},
		{"Acquire+Release", func() {
			if c.Acquire(9, 2, 0, 0, 0) {
				c.Release(9)
			}
		}},
		{"Acquire full fails fast", func() { c.Acquire(9, 0, 0, 0, 0) }},
	}
	for _, tc := range tests {
		if got := testing.AllocsPerRun(1000, tc.f); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tc.name, got)
		}
	}
}
