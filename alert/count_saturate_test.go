package alert

import (
	"math"
	"testing"
	"time"
)

// TestAlertCountHoldsAtMaxInt64: an alert's count is the sum of the
// requests its records stand for, each up to collector.MaxRequestsPerRecord (a folded refusal's
// count is its sender's to write), and the alert stays open until a
// person closes it: one open long enough under such records wrapped its
// count negative, in alerts list and in every ticket told of it. It now
// holds at math.MaxInt64, as the rules' windows do.
func TestAlertCountHoldsAtMaxInt64(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(rec(t0, failed("acmehris1"), from("203.0.113.7"), folded(5000)))
	a := wantAlerts(t, r, "token-guessing-source", 1)[0]
	r.eng.mu.Lock()
	r.eng.alerts[a.ID].Count = math.MaxInt64 - 10 // as after some 2^31 records of count 2^32
	r.eng.mu.Unlock()
	r.send(rec(t0.Add(time.Second), failed("acmehris1"), from("203.0.113.7"), folded(1<<32)))
	if got := wantAlerts(t, r, "token-guessing-source", 1)[0].Count; got != math.MaxInt64 {
		t.Errorf("alert count %d after growing past math.MaxInt64, want it held there", got)
	}
}
