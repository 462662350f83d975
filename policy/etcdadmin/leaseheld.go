package etcdadmin

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseHeld reports whether etcd still holds lease, that of a record
// deleted: an approval record (leaseEnded), a suspension (suspensionEnd)
// or a use counter (counterDeleted). Its lease's end deletes the record
// with it, so a record deleted while its lease is held was deleted by
// hand, whatever its expiry field and the follower's clock say (the
// collector down until after the expiry, or its clock ahead of the
// writer's). A lease gone proves nothing: ended, or revoked by hand, or
// the record deleted by hand before and the lease ended since; etcd
// keeps no time of a revision, and a lease may end later than its TTL (a
// leader change renews it), so the delete's revision bounds no time. An
// unanswered question is no finding (false). etcd gives the time left in
// whole seconds, rounded down, and -1 for a lease gone: 0 is a lease held
// in its last second (TestLeaseHeldInItsLastSecond).
func (a *Admin) leaseHeld(lease int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := a.cli.TimeToLive(ctx, clientv3.LeaseID(lease))
	return err == nil && resp.TTL >= 0
}
