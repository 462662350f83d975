package etcdadmin

import (
	"context"
	"fmt"
	"strings"
)

// Actions of the evidence pack (issue 15).
const (
	ActionEvidenceApprove = "evidence.approve"
)

// RecordEvidenceEvent writes an evidence lifecycle event (action
// "evidence.approve", "review.sign"...) about target, so that reviews and
// approvals reach the collector's trail the way key changes do. It
// returns the etcd revision.
func (a *Admin) RecordEvidenceEvent(ctx context.Context, action, target string, meta Meta, details map[string]string) (int64, error) {
	if !strings.HasPrefix(action, "evidence.") && !strings.HasPrefix(action, "review.") || target == "" || meta.Actor == "" {
		return 0, fmt.Errorf("evidence event %q about %q: want an evidence.* or review.* action, a target and an actor", action, target)
	}
	if err := a.needTicket(ctx, action, target, meta); err != nil { // lifecycle.go
		return 0, err
	}
	ev, err := a.eventOp(a.now(), action, target, meta, details)
	if err != nil {
		return 0, err
	}
	return a.commit(ctx, nil, ev)
}
