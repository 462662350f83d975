package etcdadmin

import (
	"context"
	"testing"
	"time"
)

// TestRecordEvidenceEvent checks that evidence and review events are
// written with their actor and details, and that any other action, or one
// without an actor, is refused.
func TestRecordEvidenceEvent(t *testing.T) {
	a := New(dial(t, shared), newPrefix(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta := Meta{Actor: "rita", Reason: "ok", Ticket: "AUD-1"}
	if _, err := a.RecordEvidenceEvent(ctx, ActionEvidenceApprove, "f.csv", meta, map[string]string{"status": "Approved"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		action string
		meta   Meta
	}{{ActionKeyRevoke, meta}, {"review.sign", Meta{}}} {
		if _, err := a.RecordEvidenceEvent(ctx, bad.action, "x", bad.meta, nil); err == nil {
			t.Errorf("RecordEvidenceEvent(%q, actor %q) accepted", bad.action, bad.meta.Actor)
		}
	}
	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Action != ActionEvidenceApprove || evs[0].Actor != "rita" || evs[0].Details["status"] != "Approved" {
		t.Errorf("events = %+v, want the one approval", evs)
	}
}
