package dataplane

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// simClock is a simulated clock for Config.KeyClock.
type simClock struct{ ns atomic.Int64 }

func (c *simClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *simClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func newSimClock(t time.Time) *simClock { c := &simClock{}; c.set(t); return c }
func exampleBorn() time.Time            { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
func withMaxAge(age, warn string) func(*policy.Document) {
	return func(d *policy.Document) { d.Lifecycle = &policy.LifecycleSpec{MaxKeyAge: age, RotationWarning: warn} }
}

// A key past lifecycle.max_key_age is refused with 401
// key_expired_by_policy by the sidecar's key clock, with no new snapshot:
// the same policy admits it a nanosecond before the age and refuses it
// from the age on. The metrics show it due for rotation first.
func TestKeyExpiredByPolicy(t *testing.T) {
	t.Parallel()
	clock := newSimClock(exampleBorn())
	st := startStack(t, func(c *Config) { c.KeyClock = clock.now })
	swapDoc(t, st.store, withMaxAge("720h", "168h"))
	rev := st.store.Load().Revision
	limit := exampleBorn().Add(720 * time.Hour)

	steps := []struct {
		at        time.Time
		status    int
		due, over string
	}{
		{limit.Add(-169 * time.Hour), 200, "portcullis_keys_rotation_due 0", "portcullis_keys_expired_by_policy 0"},
		{limit.Add(-time.Nanosecond), 200, "portcullis_keys_rotation_due 3", "portcullis_keys_expired_by_policy 0"},
		{limit, 401, "portcullis_keys_rotation_due 0", "portcullis_keys_expired_by_policy 3"},
	}
	for _, s := range steps {
		clock.set(s.at)
		r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
		if r.status != s.status {
			t.Fatalf("at %s: status %d, want %d (%s)", s.at, r.status, s.status, r.body)
		}
		m := scrape(t, st.srv)
		for _, want := range []string{s.due, s.over} {
			if !strings.Contains(m, want+"\n") {
				t.Errorf("at %s: /metrics lacks %q", s.at, want)
			}
		}
	}
	r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
	if e := r.errorBody(t); e.Error != "key_expired_by_policy" || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("refusal = %+v, %q; want error key_expired_by_policy with WWW-Authenticate", e, r.header)
	}
	rec := st.sink.last(t)
	if rec.Decision != audit.KeyExpiredByPolicy || rec.Status != 401 || string(rec.KeyID()) != "acmehris1" {
		t.Errorf("audit record = %s %d key %q, want key_expired_by_policy 401 acmehris1", rec.Decision, rec.Status, rec.KeyID())
	}
	if got := st.store.Load().Revision; got != rev {
		t.Errorf("policy revision %d, want %d: the refusal needs no new snapshot", got, rev)
	}
}

// Without a lifecycle section no key has an age limit, however old.
func TestNoLifecycleNoAgeLimit(t *testing.T) {
	t.Parallel()
	clock := newSimClock(exampleBorn().Add(100 * 365 * 24 * time.Hour))
	st := startStack(t, func(c *Config) { c.KeyClock = clock.now })
	swapDoc(t, st.store, func(d *policy.Document) { d.Lifecycle = nil })
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 {
		t.Errorf("status %d, want 200 (%s)", r.status, r.body)
	}
}
