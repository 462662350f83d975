package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// skewed makes a record one the collector stored flagged
// time_outside_window: its sender's clock is far from the collector's.
func skewed(d time.Duration) func(*collector.StoredRecord) {
	return func(r *collector.StoredRecord) {
		r.Time = r.Time.Add(d)
		r.Flags = []string{collector.FlagTimeOutsideWindow}
	}
}

// TestSkewedRecordKeepsDetectionClock: one sidecar's clock is 20 years
// ahead (its records are stored flagged time_outside_window). Detection
// takes a flagged record at the time of the newest record in time, not
// at its own: its time advanced every window it touched past the real
// records (a guessing burst around it went uncounted: the ring dropped
// them as too old), and moved the key_rotation clock, warning of every
// key at once and never again when each was due.
func TestSkewedRecordKeepsDetectionClock(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, time.Second, 10, failed("acmehris1"))...)
	r.send(rec(t0.Add(10*time.Second), failed("acmehris1"), skewed(20*365*24*time.Hour)))
	r.send(every(t0.Add(11*time.Second), time.Second, 14, failed("acmehris1"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	if a.Count < 20 {
		t.Errorf("alert count %d, want the burst's", a.Count)
	}
	if got := r.alerts("key-rotation-due"); len(got) != 0 {
		t.Errorf("%d key rotation warnings after a skewed record, want none yet", len(got))
	}
}
