package etcdadmin

import (
	"context"
	"testing"
	"time"
)

// etcd reports a lease's remaining time in whole seconds, rounded down:
// a lease held with less than a second left reads TTL 0, and one gone
// reads -1. leaseHeld took TTL 0 for a lease gone, so an approval record
// deleted by hand in its lease's last second, read then, passed for the
// lease's end.
func TestLeaseHeldInItsLastSecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	lease, err := a.cli.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := a.cli.TimeToLive(ctx, lease.ID)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TTL < 0 {
			t.Skip("the lease ended before its last second was read") // a loaded machine
		}
		if resp.TTL == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !a.leaseHeld(int64(lease.ID)) {
		t.Errorf("lease %x, held with TTL 0 (under a second left), read as gone", lease.ID)
	}
	if _, err := a.cli.Revoke(ctx, lease.ID); err != nil && ctx.Err() == nil {
		t.Logf("revoking: %v", err) // it may have ended meanwhile
	}
	if a.leaseHeld(int64(lease.ID)) {
		t.Errorf("lease %x revoked read as held", lease.ID)
	}
}
