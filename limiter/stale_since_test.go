package limiter

import (
	"testing"
	"time"
)

// TestStaleLimitKeepsSince: a request still holding the previous policy's
// limits (it loaded them before the push was published, after the push's
// Since was read) takes from a bucket already converted to the new limit.
// The bucket went back to the old limit at that take, and the next take
// under the new limit, whose Since was now before the bucket's base,
// converted at its own time: the time between went at the old rate. acme,
// drained at 100/s burst 10 and pushed to 1/h burst 10, had all 10 back a
// second later.
func TestStaleLimitKeepsSince(t *testing.T) {
	t.Parallel()
	ms := int64(time.Millisecond)
	s := int64(time.Second)
	old := NewLimit(100, time.Second, 10).Since(1)
	tb := NewTable(Config{})
	if got := drain(t, tb, 1, old, s); got != 10 {
		t.Fatalf("drained %d under 100/s burst 10, want 10", got)
	}
	nl := NewLimit(1, time.Hour, 10).Since(s + ms) // the push
	if r := tb.AllowAt(1, nl, s+2*ms); r.OK {
		t.Fatalf("first take under 1/h after the push admitted: %+v", r)
	}
	// The stale request, arrived after the push's Since, before its tables
	// were published.
	if r := tb.AllowAt(1, old, s+3*ms); r.OK {
		t.Fatalf("stale take admitted: %+v", r)
	}
	// A second later, under 1/h burst 10 in force for that second: the
	// client had drained its bucket 1 ms before the push.
	if got := drain(t, tb, 1, nl, 2*s); got != 0 {
		t.Errorf("a second after the push to 1/h burst 10: admitted %d, want 0", got)
	}
}
