package etcdadmin

import (
	"context"
	"fmt"
	"strings"
)

// RecordAlertEvent writes an alert lifecycle event (action "alert.ack",
// "alert.close", "alert.contain"...) about alertID, so that what people
// and containment do about an alert reaches the collector's trail the way
// key and client changes do (issue 14). It returns the etcd revision.
func (a *Admin) RecordAlertEvent(ctx context.Context, action, alertID string, meta Meta, details map[string]string) (int64, error) {
	if !strings.HasPrefix(action, "alert.") || alertID == "" {
		return 0, fmt.Errorf("alert event %q about %q: want an alert.* action and an alert id", action, alertID)
	}
	if err := a.needTicket(ctx, action, alertID, meta); err != nil { // lifecycle.go
		return 0, err
	}
	ev, err := a.eventOp(a.now(), action, alertID, meta, details)
	if err != nil {
		return 0, err
	}
	return a.commit(ctx, nil, ev)
}
