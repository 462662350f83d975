package dataplane

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Config.Clock is the request path's wall clock: a key valid only in a
// simulated future is admitted once the clock reaches it, and refused
// after its not_after, and each audit record is dated by the clock, not
// by the arrival time. The real clock stays years away throughout.
func TestConfigClockDatesRecordsAndKeys(t *testing.T) {
	t.Parallel()
	day := time.Date(2031, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := newSimClock(day.Add(-time.Hour))
	st := startStack(t, func(c *Config) { c.Clock = clock.now })
	k, spec := mustKey(t, "acme-hris", day, day.Add(24*time.Hour))
	swapWithKeys(t, st.store, loadExample(t).Doc, spec)

	steps := []struct {
		at       time.Time
		status   int
		decision audit.Decision
	}{
		{day.Add(-time.Second), 401, audit.Unauthenticated},
		{day, 200, audit.Allowed},
		{day.Add(23 * time.Hour), 200, audit.Allowed},
		{day.Add(24 * time.Hour), 401, audit.Unauthenticated},
	}
	for _, s := range steps {
		clock.set(s.at)
		if r := do(t, st.addr, "GET", "/v1/users/42", key(k), ""); r.status != s.status {
			t.Fatalf("at %s: status %d, want %d (%s)", s.at, r.status, s.status, r.body)
		}
		rec := st.sink.last(t)
		if got := time.Unix(0, rec.Time).UTC(); !got.Equal(s.at) || rec.Decision != s.decision {
			t.Errorf("at %s: record dated %s, %s; want %s, %s", s.at, got, rec.Decision, s.at, s.decision)
		}
	}
}
