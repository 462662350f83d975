package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// holdLedgers starts n ledgers on one prefix of the shared etcd, each on
// its own client, with a granted approval of max uses for c1 on POST /x.
func holdLedgers(t *testing.T, n, uses int) (etcdsync.Layout, []*etcdsync.Ledger) {
	t.Helper()
	return holdLedgersTTL(t, n, uses, 0)
}

// holdLedgersTTL is holdLedgers with the ledgers' HoldTTL (0: the default).
func holdLedgersTTL(t *testing.T, n, uses int, ttl time.Duration) (etcdsync.Layout, []*etcdsync.Ledger) {
	t.Helper()
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	putApproval(t, dial(t, shared), k, etcdsync.Approval{ID: "apr_hold", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: uses, Expires: time.Now().Add(time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var ls []*etcdsync.Ledger
	for range n {
		l := etcdsync.NewLedger(dial(t, shared), etcdsync.LedgerConfig{Prefix: prefix, Logger: zerolog.Nop(), HoldTTL: ttl})
		go l.Run(ctx)
		ls = append(ls, l)
	}
	holdWait(t, "the ledgers to read the approvals", func() bool {
		for _, l := range ls {
			if !l.Ready() || !l.Watched("apr_hold") {
				return false
			}
		}
		return true
	})
	return k, ls
}

func reserve(l *etcdsync.Ledger) *etcdsync.Hold {
	return l.Reserve([]byte("apr_hold"), "c1", "POST /x", nil, time.Now())
}

// A use held counts against the approval on every sidecar until it is
// spent or given back: with both uses of a two-use approval held, a
// third request is refused; one given back is taken by the next.
func TestHeldUsesCountEverywhere(t *testing.T) {
	t.Parallel()
	_, ls := holdLedgers(t, 3, 2)
	a, b := reserve(ls[0]), reserve(ls[1])
	if a == nil || b == nil {
		t.Fatalf("two reservations of a two-use approval: %v, %v; want both held", a, b)
	}
	if reserve(ls[2]) != nil {
		t.Fatal("a third reservation with both uses held was granted; want refused")
	}
	a.Release()
	c := reserve(ls[2])
	if c == nil {
		t.Fatal("a reservation after a held use was given back was refused")
	}
	if !b.Commit(time.Now()) || !c.Commit(time.Now()) {
		t.Fatal("held uses could not be spent")
	}
	if reserve(ls[0]) != nil {
		t.Error("a reservation of a used-up approval was granted")
	}
}

// A hold's counter is the one read when it was reserved; other sidecars
// may spend uses before its Commit, and the watch then shows a counter
// ahead of it. That is no sign of etcd gone back: before, Commit counted
// the difference as uses etcd lost and refused the last use of the
// approval, which then stayed out of reach on that sidecar.
func TestHoldCommitsAfterAnotherSidecarsUse(t *testing.T) {
	t.Parallel()
	_, ls := holdLedgers(t, 2, 2)
	h := reserve(ls[0])
	if h == nil {
		t.Fatal("reservation refused")
	}
	if !ls[1].Consume([]byte("apr_hold"), "c1", "POST /x", nil, time.Now()) {
		t.Fatal("the other sidecar's use was refused")
	}
	holdWait(t, "the first ledger to watch the other's use", func() bool { return ls[0].WatchedUses("apr_hold") == 2 })
	if !h.Commit(time.Now()) {
		t.Fatal("a held use spent after another sidecar's use was refused; want spent (the second of two uses)")
	}
	if got := ls[0].WatchedUses("apr_hold"); got > 3 {
		t.Errorf("counter at version %d, want at most 3", got)
	}
}

// A spent use's slot moves to the grant's uses lease, so the hold's own
// lease holds nothing: Commit revokes it, where it lingered for HoldTTL
// (a minute; ten here, past the wait), one lease per approved request,
// and the slot stays taken.
func TestCommitRevokesTheHoldsLease(t *testing.T) {
	t.Parallel()
	k, ls := holdLedgersTTL(t, 1, 2, 10*time.Minute)
	h := reserve(ls[0])
	if h == nil {
		t.Fatal("reservation refused")
	}
	lease := h.Lease()
	if !h.Commit(time.Now()) {
		t.Fatal("held use could not be spent")
	}
	cli := dial(t, shared)
	holdWait(t, "the spent hold's lease revoked", func() bool {
		resp, err := cli.TimeToLive(context.Background(), lease)
		return err == nil && resp.TTL == -1
	})
	resp, err := cli.Get(context.Background(), k.ApprovalSlots("apr_hold"), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 1 {
		t.Fatalf("slots of the approval after the spent hold's lease went: %v, %v; want the spent one kept", resp, err)
	}
}

// Finding (review80): Commit revoked the spent hold's lease in a
// goroutine nothing waited for; at shutdown the sidecar closed its etcd
// client under it, and the lease lingered for HoldTTL, its failure logged
// after the sidecar said it stopped. Ledger.Wait waits for those
// revocations; once it returns the lease is gone.
func TestWaitWaitsForCommitsReleases(t *testing.T) {
	t.Parallel()
	const n = 10
	_, ls := holdLedgersTTL(t, 1, n, 10*time.Minute)
	var leases []clientv3.LeaseID
	for range n {
		h := reserve(ls[0])
		if h == nil {
			t.Fatal("reservation refused")
		}
		leases = append(leases, h.Lease())
		if !h.Commit(time.Now()) {
			t.Fatal("held use could not be spent")
		}
	}
	ls[0].Wait()
	cli := dial(t, shared)
	for i, lease := range leases {
		resp, err := cli.TimeToLive(context.Background(), lease)
		if err != nil || resp.TTL != -1 {
			t.Errorf("hold %d's lease after Wait: TTL %v, %v; want revoked (TTL -1)", i, resp.TTL, err)
		}
	}
}
