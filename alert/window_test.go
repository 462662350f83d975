package alert

import (
	"math"
	"testing"
	"time"
)

// TestWindowSlides checks the bucketed sliding sum: values leave the
// window as time passes, a jump past the ring clears it, and a value
// older than the ring holds is dropped.
func TestWindowSlides(t *testing.T) {
	t.Parallel()
	w := newWindow(time.Second, 10*time.Second)
	for i := range 10 {
		w.add(t0.Add(time.Duration(i)*time.Second), 1)
	}
	if got := w.sum(t0.Add(9*time.Second), 10*time.Second); got != 10 {
		t.Errorf("sum over the last 10s = %d, want 10", got)
	}
	if got := w.sum(t0.Add(9*time.Second), 3*time.Second); got != 3 {
		t.Errorf("sum over the last 3s = %d, want 3", got)
	}
	w.add(t0.Add(14*time.Second), 5) // the ring (11 buckets) now holds seconds 4-14
	if got := w.sum(t0.Add(14*time.Second), 10*time.Second); got != 5+5 {
		t.Errorf("after sliding: sum = %d, want 10 (seconds 5-9 and the new 5)", got)
	}
	w.add(t0.Add(time.Second), 100) // older than the ring: dropped
	if got := w.sum(t0.Add(14*time.Second), 11*time.Second); got != 11 {
		t.Errorf("a value older than the ring counted: sum = %d, want 11 (seconds 4-14)", got)
	}
	w.add(t0.Add(time.Hour), 1) // a jump clears everything
	if got := w.sum(t0.Add(time.Hour), 10*time.Second); got != 1 {
		t.Errorf("after a jump: sum = %d, want 1", got)
	}
}

// TestOutOfOrderRecordsFire: records stored out of order (a sender's
// batch late) count in the window like any other: after 15 failures at
// 10-24 s and 10 older ones at 0-9 s, the next failure at 25 s sees 26 in
// the minute and fires (the upper bound that spares summing the window
// per record never hides a late record).
func TestOutOfOrderRecordsFire(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	recs := every(t0, time.Second, 26, failed("acmehris1"), from("192.0.2.1"))
	r.send(recs[10:25]...)
	r.send(recs[:10]...)
	if got := len(r.alerts("token-guessing-client")); got != 0 {
		t.Fatalf("%d token-guessing-client alerts before the 26th failure, want 0", got)
	}
	r.send(recs[25])
	if got := len(r.alerts("token-guessing-client")); got != 1 {
		t.Errorf("%d token-guessing-client alerts, want 1", got)
	}
}

// A sender sets each record's BytesOut: two of math.MaxInt64 bytes
// wrapped a bucket and the window's sum negative, which hid every later
// record of the group (an egress spike) until the window moved past
// them. Sums now stop at math.MaxInt64.
func TestWindowSumSaturates(t *testing.T) {
	w := newWindow(time.Second, 10*time.Second)
	at := time.Unix(1_800_000_000, 0)
	w.add(at, math.MaxInt64)
	w.add(at, math.MaxInt64)                    // the same bucket
	w.add(at.Add(time.Second), math.MaxInt64/2) // another: the sum adds them
	w.add(at.Add(2*time.Second), 1<<30)
	if got := w.sum(at.Add(2*time.Second), 10*time.Second); got != math.MaxInt64 {
		t.Fatalf("sum = %d, want math.MaxInt64 (held, not wrapped)", got)
	}
	if got := w.sum(at.Add(2*time.Second), time.Second); got != 1<<30 {
		t.Fatalf("sum of the last bucket = %d, want %d", got, 1<<30)
	}
}
