package dataplane

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// TestPolicyStaleAfterWallClockStepsBack: staleness.max_age was measured
// on the wall clock alone (the request's wall time less when etcd was
// last heard), so a wall clock stepped back (an NTP step, a VM's clock
// corrected) stretched the bound by the step: last heard ten minutes ago
// with a bound of one minute, a sidecar whose clock went back an hour
// served credentialed requests for fifty minutes more, on tables it can
// no longer vouch for. The age is now also taken on the monotonic clock,
// which no step moves; either past the bound is stale.
func TestPolicyStaleAfterWallClockStepsBack(t *testing.T) {
	t.Parallel()
	st := startStack(t, func(c *Config) {
		c.Watching = true
		c.Clock = func() time.Time { return time.Now().Add(-time.Hour) } // the wall clock stepped back an hour
	})
	swapDoc(t, st.store, func(d *policy.Document) { d.Staleness = policy.StaleSpec{MaxAge: "1m", Action: "deny"} })
	st.store.Heard(time.Now().Add(-10 * time.Minute).UnixNano()) // etcd last heard ten minutes ago, before the step
	r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 503 || r.errorBody(t).Error != "policy_stale" {
		t.Fatalf("etcd unheard for 10m past a 1m bound, wall clock stepped back 1h: got %d %s, want 503 policy_stale", r.status, r.body)
	}
	// Heard now, the same request is served again: the step alone is no staleness.
	st.store.Heard(time.Now().UnixNano())
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("etcd heard just now, wall clock stepped back 1h: got %d %s, want 200", r.status, r.body)
	}
}

// TestPolicyStaleWhenHeardInTheFuture: a confirmation later than the clock
// reads (a last-known-good file saved before the wall clock was stepped
// back) is of unknown age and counts as none, so a policy whose staleness
// action denies refuses credentialed requests until etcd confirms again;
// taken as it was, it held the bound off for as long as the step (review72).
func TestPolicyStaleWhenHeardInTheFuture(t *testing.T) {
	t.Parallel()
	st := startStack(t, func(c *Config) { c.Watching = true })
	swapDoc(t, st.store, func(d *policy.Document) { d.Staleness = policy.StaleSpec{MaxAge: "1m", Action: "deny"} })
	st.store.Heard(time.Now().Add(time.Hour).UnixNano())
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 503 || r.errorBody(t).Error != "policy_stale" {
		t.Fatalf("etcd heard an hour ahead of the clock: got %d %s, want 503 policy_stale", r.status, r.body)
	}
	st.store.Heard(time.Now().UnixNano())
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("etcd heard just now: got %d %s, want 200", r.status, r.body)
	}
}
