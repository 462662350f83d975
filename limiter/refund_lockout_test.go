package limiter

import (
	"testing"
	"time"
)

// TestRefundAfterConversionNoLockout: a refund that leaves a bucket full
// with less than one unit of a ns to spare made its tat negative, and the
// next change of limit converted that negative debt as a huge unsigned one,
// saturated to 2^61 units: a full bucket refused for 73 years.
func TestRefundAfterConversionNoLockout(t *testing.T) {
	t.Parallel()
	a := NewLimit(3, time.Second, 2) // scale 3
	b := NewLimit(1, time.Second, 1).Since(1)
	tb := NewTable(Config{})
	// A request takes under a at 0 ...
	if r := tb.AllowAt(1, a, 0); !r.OK {
		t.Fatalf("take under a: %+v", r)
	}
	// ... a push sets b at 1 ns, another request takes under it (denied) ...
	tb.AllowAt(1, b, 2)
	// ... and the first request, refused later on (a concurrency cap, an
	// approval), gives its token back under the limits it took with.
	tb.RefundAt(1, a, 1, 0)
	// The bucket is full: under 1/s burst 1, a take a second on admits.
	if r := tb.AllowAt(1, b, int64(time.Second)); !r.OK {
		t.Errorf("a second after the refund, under 1/s burst 1: %+v, want admitted", r)
	}
}

// TestOverRefundNoLockout: refunding more than was taken is documented as
// harmless; it left the bucket's tat below its base and a change of limit
// at that time then locked the key out.
func TestOverRefundNoLockout(t *testing.T) {
	t.Parallel()
	a := NewLimit(1, time.Second, 1)
	b := NewLimit(3, time.Second, 2)
	tb := NewTable(Config{})
	tb.AllowAt(1, a, 0)
	tb.AllowAt(1, b, 1) // converts: 1 unit under a full bucket, denied
	tb.RefundAt(1, b, 2, 1)
	if r := tb.AllowAt(1, a, 1); !r.OK {
		t.Errorf("after refunds, back to 1/s burst 1: %+v, want admitted", r)
	}
}
