package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// folded makes a record one the sidecar's emitter aggregated: it stands
// for n requests (audit/emitter_aggregate.go, while its spool is above
// half full).
func folded(n int64) func(*collector.StoredRecord) {
	return func(r *collector.StoredRecord) { r.Count = n }
}

// TestAggregatedRecordsCountEveryRequest: a guessing flood the sidecar
// folds (one record per source, route, reason and second, its count saying
// how many) is counted request by request: 5000 guesses in one second,
// once a minute, from one address against one client's key id, is far
// over both auth_failures rules (30 a minute per source, 20 per client),
// though it is one stored record a minute.
func TestAggregatedRecordsCountEveryRequest(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	for m := range 5 {
		r.send(rec(t0.Add(time.Duration(m)*time.Minute), failed("acmehris1"), from("203.0.113.7"), folded(5000)))
	}
	src := wantAlerts(t, r, "token-guessing-source", 1)[0]
	if src.Count != 5*5000 {
		t.Errorf("source alert count = %d, want %d (every folded request)", src.Count, 5*5000)
	}
	cl := wantAlerts(t, r, "token-guessing-client", 1)[0]
	if cl.Count != 5*5000 {
		t.Errorf("client alert count = %d, want %d", cl.Count, 5*5000)
	}
}

// TestAggregatedDeadCredentialCounted: a revoked key tried 50 times in one
// folded record fires dead_credential (threshold 3).
func TestAggregatedDeadCredentialCounted(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.event(collector.Event{Time: t0, Actor: "ops", Action: "key.revoke", Target: "acmehris1"})
	r.send(rec(t0.Add(time.Minute), failed("acmehris1"), folded(50)))
	a := wantAlerts(t, r, "dead-credential", 1)[0]
	if a.Count != 50 {
		t.Errorf("dead-credential count = %d, want 50", a.Count)
	}
}

// TestAggregatedEgressCountedOnce: the sidecar sums the bytes of the
// requests it folds into one record, so a folded record's BytesOut is
// already all of them. 1000 folded denials of 600 KiB in all are 600 KiB
// of egress, far under egress_spike's 512 MiB, not 1000 times that.
func TestAggregatedEgressCountedOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(rec(t0, failed("acmehris1"), folded(1000), bytesOut(600<<10)))
	wantAlerts(t, r, "egress-spike-client", 0)
	wantAlerts(t, r, "egress-spike-tenant", 0)
}
