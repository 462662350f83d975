package alert

import (
	"testing"
	"time"
)

// TestKeyRotationWarningAfterSnapshotRestart: the collector restarts from
// its detection snapshot (written every 5 minutes and at shutdown), so
// the entries before it are not replayed. A key made with keys create
// (known to the rules only from its key.create event) must still be
// warned of when its warning is due, and a document key warned before
// the snapshot (its alert since closed) must not be warned again: the
// snapshot held neither, so every key created before the last restart
// reached max_key_age (and was refused by the sidecars) unwarned, and
// every closed warning came back as a new alert and ticket.
func TestKeyRotationWarningAfterSnapshotRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t, rotationPolicy(t))
	r.snap = true
	r.restart()
	born := t0
	r.event(lifecycle(born, "key.create", "fresh0001", "alice", "", map[string]string{"client": "globex-bi"}))
	// The document's keys are past the age at t0: warned with that batch.
	var docWarning string
	for _, a := range r.alerts("key-rotation-due") {
		if a.Key == "acmehris1" {
			docWarning = a.ID
		}
	}
	if docWarning == "" {
		t.Fatalf("no warning for the document key acmehris1: %+v", r.alerts("key-rotation-due"))
	}
	r.event(lifecycle(born.Add(time.Minute), ActionClose, docWarning, "alice", "rotation planned", map[string]string{"corrective_action": "rotate"}))
	opens := len(r.trailEvents(ActionOpen))
	if err := r.eng.WriteSnapshot(born.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.restart()
	if r.stats.Snapshot == 0 {
		t.Fatalf("restart did not start from the snapshot: %+v", r.stats)
	}
	warnAt := born.Add(720*time.Hour - 168*time.Hour)
	r.eng.Tick(warnAt)
	var fresh, doc int
	for _, a := range r.alerts("key-rotation-due") {
		switch a.Key {
		case "fresh0001":
			fresh++
		case "acmehris1":
			doc++
		}
	}
	if fresh != 1 {
		t.Errorf("%d warnings for fresh0001 (created before the snapshot) at its warning time, want 1", fresh)
	}
	if doc != 1 {
		t.Errorf("%d warnings for acmehris1 after the restart, want its one (closed) warning", doc)
	}
	if got := len(r.trailEvents(ActionOpen)); got != opens+1 {
		t.Errorf("%d alert.open events, want %d: the one for fresh0001 only", got, opens+1)
	}
}
