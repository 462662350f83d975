package etcdsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// runLedger starts a ledger on prefix and waits until it has read the
// approvals; stop cancels its Run and waits for it.
func runLedger(t *testing.T, cli *clientv3.Client, prefix, pod string) (l *etcdsync.Ledger, stop func()) {
	t.Helper()
	return runLedgerWith(t, cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: pod})
}

// runLedgerWith is runLedger with a configuration of the test's own.
func runLedgerWith(t *testing.T, cli *clientv3.Client, cfg etcdsync.LedgerConfig) (l *etcdsync.Ledger, stop func()) {
	t.Helper()
	l = etcdsync.NewLedger(cli, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	for deadline := time.Now().Add(30 * time.Second); !l.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ledger never read the approvals")
		}
	}
	return l, stop
}

// putApproval writes ap as its record (on lease, if not zero) and returns
// its revision. A grant is written as the operator writes one: counted on
// its counter (Uses stored as MaxUses, for binaries before the counter),
// created in the same transaction on its uses lease, if any.
func putApproval(tb testing.TB, cli *clientv3.Client, k etcdsync.Layout, ap etcdsync.Approval, opts ...clientv3.OpOption) int64 {
	tb.Helper()
	ops := []clientv3.Op{}
	if ap.State == etcdsync.ApprovalGranted {
		ap.UsesCounter, ap.Uses = true, ap.MaxUses
		var copts []clientv3.OpOption
		if ap.UsesLease != 0 {
			copts = append(copts, clientv3.WithLease(clientv3.LeaseID(ap.UsesLease)))
		}
		ops = append(ops, clientv3.OpPut(k.ApprovalCounter(ap.ID), "{}", copts...))
	}
	v, _ := json.Marshal(ap)
	resp, err := cli.Txn(context.Background()).Then(append(ops, clientv3.OpPut(k.Approval(ap.ID), string(v), opts...))...).Commit()
	if err != nil {
		tb.Error(err)
		return 0
	}
	return resp.Header.Revision
}

// useRecords returns the use records of the counter of approval id, one
// per version after the grant's, from etcd's history, and the counter as
// it is now (nil when deleted).
func useRecords(t *testing.T, cli *clientv3.Client, k etcdsync.Layout, id string) ([]*mvccpb.KeyValue, *mvccpb.KeyValue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cli.Get(ctx, k.ApprovalCounter(id))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("counter of %s: %v %v", id, resp, err)
	}
	cur := resp.Kvs[0]
	var out []*mvccpb.KeyValue
	for wr := range cli.Watch(ctx, k.ApprovalCounter(id), clientv3.WithRev(cur.CreateRevision+1)) {
		for _, e := range wr.Events {
			out = append(out, e.Kv)
			if e.Kv.ModRevision >= cur.ModRevision {
				return out, cur
			}
		}
	}
	if cur.Version == 1 {
		return nil, cur
	}
	t.Fatalf("history of the counter of %s: %v", id, ctx.Err())
	return nil, nil
}

// A use is a put of the approval's counter under approval-uses/, by the
// sidecar, keeping the grant's uses lease: an approval for 3 uses admits
// exactly 3 of 12 concurrent requests over two ledgers, the counter's
// versions 2, 3 and 4 holding each request's id and sidecar; the record
// itself is never rewritten and nothing is written under events/.
func TestLedgerCountsUsesOnTheCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	ap := etcdsync.Approval{ID: "apr_three", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 3,
		Expires: now.Add(time.Hour), UsesLease: int64(lease.ID)}
	granted := putApproval(t, cli, k, ap)
	ledgers := make([]*etcdsync.Ledger, 2)
	for i := range ledgers {
		ledgers[i], _ = runLedger(t, cli, prefix, fmt.Sprintf("pod-%d", i))
	}
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if ledgers[i%2].Consume([]byte(ap.ID), "c1", "POST /x", fmt.Appendf(nil, "req-%d", i), now) {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 3 {
		t.Errorf("%d of 12 concurrent uses of a 3-use approval admitted, want 3", n)
	}
	uses, cur := useRecords(t, cli, k, ap.ID)
	if cur.Version != 4 || cur.CreateRevision != granted || cur.Lease != int64(lease.ID) {
		t.Errorf("counter: version %d, created at %d, lease %x; want version 4, created with the grant at %d, on the uses lease %x", cur.Version, cur.CreateRevision, cur.Lease, granted, lease.ID)
	}
	for i, kv := range uses {
		u, err := etcdsync.DecodeApprovalUse(kv.Value)
		if err != nil || u.Client != "c1" || u.Route != "POST /x" || u.RequestID == "" || u.Sidecar == "" || u.Time.IsZero() || kv.Version != int64(i+2) {
			t.Errorf("use record %d (version %d) = %+v, %v; want client, route, request id, sidecar and time", i+1, kv.Version, u, err)
		}
	}
	if len(uses) != 3 {
		t.Errorf("%d use records in the counter's history, want 3", len(uses))
	}
	rec, err := cli.Get(ctx, k.Approval(ap.ID))
	if err != nil || len(rec.Kvs) != 1 || rec.Kvs[0].ModRevision != granted {
		t.Errorf("approval record after the uses: %v %v; want it untouched at revision %d", rec, err, granted)
	}
	if evs, err := cli.Get(ctx, k.EventsDir(), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || evs.Count != 0 {
		t.Errorf("events written by the ledger: %v %v; want none", evs, err)
	}
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if resp, err := cli.Get(ctx, k.ApprovalCounter(ap.ID), clientv3.WithCountOnly()); err != nil || resp.Count != 0 {
		t.Errorf("counter after its lease ended: %v %v; want none", resp, err)
	}
}

// A grant changed after a ledger read it stops its uses: the transaction
// compares the record's revision, so a ledger whose watch missed the
// denial reads it and refuses, with uses left.
func TestLedgerUseComparesTheGrant(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	ap := etcdsync.Approval{ID: "apr_deny", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 5, Expires: now.Add(time.Hour)}
	putApproval(t, cli, k, ap)
	l, stop := runLedger(t, cli, prefix, "pod-0")
	if !l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Fatal("first use of a granted approval refused")
	}
	stop() // the watch stops: the ledger keeps the granted copy
	ap.State = etcdsync.ApprovalDenied
	putApproval(t, cli, k, ap)
	if l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Error("use of a grant denied since the ledger read it = true, want refused")
	}
	if _, cur := useRecords(t, cli, k, ap.ID); cur.Version != 2 {
		t.Errorf("counter version %d; want 2, the one use before the denial", cur.Version)
	}
}

// A counter deleted or re-created (a sidecar's etcd role can do either)
// admits nothing more: its create revision is no longer the grant's, so
// deleting wastes uses and never gives them back.
func TestLedgerRefusesARecreatedCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	ap := etcdsync.Approval{ID: "apr_recreated", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 5, Expires: now.Add(time.Hour)}
	putApproval(t, cli, k, ap)
	l, _ := runLedger(t, cli, prefix, "pod-0")
	if !l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Fatal("first use of a granted approval refused")
	}
	if _, err := cli.Delete(ctx, k.ApprovalCounter(ap.ID)); err != nil {
		t.Fatal(err)
	}
	if l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Error("use after the counter was deleted = true, want refused")
	}
	if _, err := cli.Put(ctx, k.ApprovalCounter(ap.ID), "{}"); err != nil {
		t.Fatal(err)
	}
	if l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Error("use after the counter was re-created = true, want refused")
	}
}

// A record from before the counter (uses counted in the record, no
// counter) is refused by the new ledger, which cannot count it as the old
// binaries did; its stored count still shows (Count keeps it).
func TestLedgerRefusesGrantsBeforeTheCounter(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	ap := etcdsync.Approval{ID: "apr_old", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 2, Uses: 1, Expires: now.Add(time.Hour)}
	v, _ := json.Marshal(ap)
	if _, err := cli.Put(context.Background(), k.Approval(ap.ID), string(v)); err != nil {
		t.Fatal(err)
	}
	l, _ := runLedger(t, cli, prefix, "pod-0")
	if l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Error("use of a grant from before the counter = true, want refused")
	}
	ap.Count(7, etcdsync.Counter{})
	if ap.Uses != 1 {
		t.Errorf("Count of a record from before the counter = %d uses, want its stored 1", ap.Uses)
	}
}

// Count takes uses from the counter only for a counter record, and only
// from the counter created with the grant: anything else is used up.
func TestApprovalCount(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rec     int64
		usesRev int64
		c       etcdsync.Counter
		want    int
	}{
		{10, 0, etcdsync.Counter{Create: 10, Version: 1}, 0},
		{10, 0, etcdsync.Counter{Create: 10, Version: 3}, 2},
		{10, 0, etcdsync.Counter{Create: 10, Version: 4}, 3},
		{10, 0, etcdsync.Counter{Create: 10, Version: 40}, 3},
		{10, 0, etcdsync.Counter{Create: 11, Version: 1}, 3},
		{10, 0, etcdsync.Counter{}, 3},
		{12, 10, etcdsync.Counter{Create: 10, Version: 2}, 1},
		{12, 0, etcdsync.Counter{Create: 10, Version: 2}, 3},
	} {
		a := etcdsync.Approval{UsesCounter: true, Uses: 3, MaxUses: 3, UsesRev: c.usesRev}
		a.Count(c.rec, c.c)
		if a.Uses != c.want {
			t.Errorf("Count(%d, %+v) with uses_rev %d = %d uses, want %d", c.rec, c.c, c.usesRev, a.Uses, c.want)
		}
	}
}

// ParseApprovalCounter reads back exactly the keys ApprovalCounter makes
// and nothing else: a sidecar may write anything under approval-uses/.
func TestParseApprovalCounter(t *testing.T) {
	t.Parallel()
	k := etcdsync.NewLayout("/p")
	if id, ok := k.ParseApprovalCounter(k.ApprovalCounter("apr_1")); !ok || id != "apr_1" {
		t.Errorf("ParseApprovalCounter(ApprovalCounter(apr_1)) = %q %v", id, ok)
	}
	for _, key := range []string{"/p/approval-uses/apr_1/1", "/p/approval-uses/apr_1/", "/p/approval-uses/APR", "/p/approval-uses/",
		"/p/approvals/apr_1", "/q/approval-uses/apr_1", "/p/approval-uses/../x"} {
		if id, ok := k.ParseApprovalCounter(key); ok {
			t.Errorf("ParseApprovalCounter(%q) = %q, want not a counter", key, id)
		}
	}
}
