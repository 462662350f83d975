package limiter

import (
	"testing"
	"time"
)

// TestSinceNeverOwesPastEmpty: the takes a request still holding the
// previous policy's limits makes between the push's Since and the first
// take under the new limit count as owed at Since, past the old bucket's
// capacity, and the share carried over was as many new buckets: at 1000/s
// burst 1, eleven requests in the 10 ms before a push to 1/s burst 1000
// was published were eleven buckets of 1000 s, and the client was refused
// for 2 h 47 min under 1/s burst 1000. A change of limit leaves a bucket
// empty at most: refused for a token of the new limit, 1 s.
func TestSinceNeverOwesPastEmpty(t *testing.T) {
	t.Parallel()
	ms := int64(time.Millisecond)
	s := int64(time.Second)
	old := NewLimit(1000, time.Second, 1).Since(1)
	nl := NewLimit(1, time.Second, 1000).Since(s) // the push, at 1 s
	tb := NewTable(Config{})
	var took int64
	for now := s; now <= s+10*ms; now += ms { // the stale requests
		if tb.AllowAt(1, old, now).OK {
			took++
		}
	}
	if took != 11 {
		t.Fatalf("stale takes at 1000/s burst 1 over 10 ms: %d admitted, want 11", took)
	}
	r := tb.AllowAt(1, nl, s+10*ms)
	if !r.OK && r.RetryAfter > time.Second {
		t.Errorf("first take under 1/s burst 1000: %+v, want refused at most 1 s", r)
	}
}
