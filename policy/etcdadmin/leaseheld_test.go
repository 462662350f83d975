package etcdadmin

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd reports a lease's remaining time in whole seconds, rounded down:
// a lease held with less than a second left reads TTL 0, and one gone
// reads -1. leaseHeld (now leaseAsk.held) took TTL 0 for a lease gone, so an approval record
// deleted by hand in its lease's last second, read then, passed for the
// lease's end.
//
// The last second is found by polling, so the lease may end between
// leaseHeld's read and the test's: a lease read as gone counts against
// leaseHeld only when etcd still reports it held after that read, and
// a lease that ended in between is tried again with a new one.
func TestLeaseHeldInItsLastSecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	ttl := func(id clientv3.LeaseID) int64 {
		resp, err := a.cli.TimeToLive(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return resp.TTL
	}
	for try := 1; ; try++ {
		if try > 5 {
			t.Fatal("five leases ended before their last second could be read twice")
		}
		lease, err := a.cli.Grant(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		left := ttl(lease.ID)
		for left > 0 {
			time.Sleep(10 * time.Millisecond)
			left = ttl(lease.ID)
		}
		if left < 0 {
			continue // ended before its last second was read: a loaded machine
		}
		held := a.newLeaseAsk(ctx).held(int64(lease.ID)) == leaseHeld
		after := ttl(lease.ID)
		if !held && after >= 0 {
			t.Errorf("lease %x, held with TTL 0 (under a second left) before and after, read as gone", lease.ID)
		}
		if !held && after < 0 {
			continue // ended between the reads: no finding either way
		}
		if _, err := a.cli.Revoke(ctx, lease.ID); err != nil && ctx.Err() == nil {
			t.Logf("revoking: %v", err) // it may have ended meanwhile
		}
		if a.newLeaseAsk(ctx).held(int64(lease.ID)) != leaseGone {
			t.Errorf("lease %x revoked read as held", lease.ID)
		}
		return
	}
}

// The lease questions of one watch response share leaseBudget, which
// bounds how long etcd holds the follower answering them; the rest of
// the response's work (each event's verification, a lookup a user's
// directory under events-by/) is not theirs. The budget started as the
// response arrived, so a response with many events to verify (a person
// writing many events under her own directory) spent it before the
// first lease question: etcd was never asked, and every lease's end in
// the response, a real one too, was stored lease.unchecked ("etcd did
// not answer"), a delete by hand with its lease held likewise.
func TestLeaseBudgetStartsWithTheFirstQuestion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	lease, err := a.cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	q := a.newLeaseAsk(ctx)
	time.Sleep(leaseBudget + 100*time.Millisecond) // the response's other work, before its first lease question
	if got := q.held(int64(lease.ID)); got != leaseHeld {
		t.Errorf("lease %x held for a minute, asked first after the response's other work: %v, want leaseHeld (%v)", lease.ID, got, leaseHeld)
	}
}
