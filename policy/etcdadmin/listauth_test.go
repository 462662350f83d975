package etcdadmin

import (
	"context"
	"testing"
	"time"
)

// An event written under events-by/ops-alice/ while etcd's authentication
// was off, and listed after it was turned on again, binds no one in
// ListEvents either: a single read of etcd finds authentication on now,
// which proves nothing of the revision the event was written at. Before,
// ListEvents bound it to ops-alice from its key alone, where the follower
// flagged it event.etcd_auth_off.
func TestListEventsUnprovenForAnEventWrittenWhileAuthWasOff(t *testing.T) {
	t.Parallel()
	root := authEtcd(t)
	a := New(root, newPrefix(t))
	setAuth(t, root, false)
	rev := writeKeyCreate(t, a, "ops-alice")
	setAuth(t, root, true)
	evs, err := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	wantAuthOff(t, keyCreateAt(t, evs, rev), "ops-alice")
}
