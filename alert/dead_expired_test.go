package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestDeadCredentialExpiredKeyFires: a key made with keys create has its
// not_after only in its key.create event, and a rotated key's shortened
// not_after only in its key.rotate event (old_not_after); a key older
// than lifecycle.max_key_age is refused as key_expired_by_policy. Each of
// them still being tried is a dead credential (the rotated key is the
// one whose owner thought it leaked), also after a restart from the
// detection snapshot; none fired: the rules knew only the policy
// document's not_after and the decision unauthenticated.
func TestDeadCredentialExpiredKeyFires(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.snap = true
	r.restart()
	end := t0.Add(time.Hour).Format(time.RFC3339)
	r.event(
		lifecycle(t0, "key.create", "created01", "alice", "", map[string]string{"client": "globex-bi", "not_after": end}),
		lifecycle(t0, "key.create", "leaked001", "alice", "", map[string]string{"client": "acme-hris", "not_after": ""}),
		lifecycle(t0.Add(time.Minute), "key.rotate", "leaked001", "alice", "", map[string]string{"client": "acme-hris", "new_key": "successor1", "old_not_after": end}),
	)
	if err := r.eng.WriteSnapshot(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.restart()
	if r.stats.Snapshot == 0 {
		t.Fatalf("restart did not start from the snapshot: %+v", r.stats)
	}
	at := t0.Add(2 * time.Hour)
	r.send(every(at, time.Second, 3, failed("created01"))...)
	r.send(every(at, time.Second, 3, failed("leaked001"))...)
	r.send(every(at, time.Second, 3, func(s *collector.StoredRecord) {
		s.Status, s.Decision, s.Client, s.Tenant, s.KeyID = 401, "key_expired_by_policy", "acme-admin", "acme", "acmeadm1"
	})...)
	got := map[string]bool{}
	for _, a := range r.alerts("dead-credential") {
		got[a.KeyID] = true
	}
	for _, id := range []string{"created01", "leaked001", "acmeadm1"} {
		if !got[id] {
			t.Errorf("no dead-credential alert for key %s tried after its end (alerts for %v)", id, got)
		}
	}
	// Before its end the key is live: a wrong secret is auth_failures'.
	r2 := newRig(t, examplePolicy(t))
	r2.event(lifecycle(t0, "key.create", "created01", "alice", "", map[string]string{"client": "globex-bi", "not_after": end}))
	r2.send(every(t0.Add(time.Minute), time.Second, 3, failed("created01"))...)
	wantAlerts(t, r2, "dead-credential", 0)
}
