package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// rotationPolicy is the example policy with a 30-day max_key_age and a
// 7-day rotation warning.
func rotationPolicy(t *testing.T) *policy.Document {
	d := examplePolicy(t)
	d.Lifecycle = &policy.LifecycleSpec{MaxKeyAge: "720h", RotationWarning: "168h"}
	return d
}

// A key_rotation alert fires once per key when it enters the rotation
// warning, by the records' time or by Tick, and not for a key rotated or
// revoked; a restart replays it without firing again (issue 20).
func TestKeyRotationWarning(t *testing.T) {
	t.Parallel()
	r := newRig(t, rotationPolicy(t))
	born := t0
	// The store's clock is the simulated one: each record is stored when
	// it says it was made, and detection counts it then (countedAt).
	clock := r.simulated(born.Add(time.Hour))
	r.restart()
	r.event(
		lifecycle(born, "key.create", "fresh0001", "alice", "", map[string]string{"client": "globex-bi"}),
		lifecycle(born, "key.create", "rotated01", "alice", "", map[string]string{"client": "globex-bi"}),
		lifecycle(born, "key.create", "revoked01", "alice", "", map[string]string{"client": "globex-bi"}),
		lifecycle(born.Add(time.Hour), "key.rotate", "rotated01", "alice", "", map[string]string{"client": "globex-bi", "new_key": "successor1"}),
		lifecycle(born.Add(time.Hour), "key.revoke", "revoked01", "alice", "", nil),
	)
	warnAt := born.Add(720*time.Hour - 168*time.Hour)
	r.eng.Tick(warnAt.Add(-time.Second))
	if got := r.alerts("key-rotation-due"); hasKey(got, "fresh0001") {
		t.Fatalf("before the warning: %+v, want none for fresh0001", got)
	}
	// The document's keys (created 2026-01-01) are long past a 30-day
	// age at t0: they fired with the first batch of events.
	r.eng.Tick(warnAt)
	byKey := map[string]Alert{}
	for _, a := range r.alerts("key-rotation-due") {
		byKey[a.Key] = a
	}
	a, ok := byKey["fresh0001"]
	if !ok || a.Client != "globex-bi" || a.KeyID != "fresh0001" || a.Tenant != "globex" || a.Kind != KindKeyRotation || !a.Opened.Equal(warnAt) {
		t.Errorf("alert for fresh0001 = %+v (present %t), want one for client globex-bi at %s", a, ok, warnAt)
	}
	for _, id := range []string{"rotated01", "revoked01", "successor1", "revoked1"} {
		if _, ok := byKey[id]; ok {
			t.Errorf("alert for %s, want none (rotated, revoked, or too young)", id)
		}
	}
	for _, id := range []string{"acmehris1", "acmeadm1", "globexbi1"} {
		if _, ok := byKey[id]; !ok {
			t.Errorf("no alert for the document key %s, past its age", id)
		}
	}
	// The successor gets its own warning, from its own creation, here by
	// the time of a stored record.
	succAt := born.Add(time.Hour + 720*time.Hour - 168*time.Hour)
	clock.set(succAt)
	r.send(rec(succAt))
	if got := r.alerts("key-rotation-due"); !hasKey(got, "successor1") {
		t.Errorf("no warning for the successor by the records' time: %+v", got)
	}
	n := len(r.trailEvents(ActionOpen))
	clock.set(warnAt.Add(2 * time.Hour))
	r.eng.Tick(warnAt.Add(2 * time.Hour))
	succ := r.alerts("key-rotation-due")
	for _, a := range succ {
		if a.Key == "successor1" { // closed: a restart must not warn again
			r.event(lifecycle(warnAt.Add(2*time.Hour), ActionClose, a.ID, "alice", "rotation planned", nil))
		}
	}
	clock.set(warnAt.Add(3 * time.Hour))
	r.restart()
	r.eng.Tick(warnAt.Add(3 * time.Hour))
	if got := len(r.trailEvents(ActionOpen)); got != n || n != 5 {
		t.Errorf("%d alert.open events after more ticks and a restart, want %d == 5: one per key", got, n)
	}
}

func hasKey(as []Alert, key string) bool {
	for _, a := range as {
		if a.Key == key {
			return true
		}
	}
	return false
}
