package etcdsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// runLedger starts a ledger on prefix and waits until it has read the
// approvals; stop cancels its Run and waits for it.
func runLedger(t *testing.T, cli *clientv3.Client, prefix, pod string) (l *etcdsync.Ledger, stop func()) {
	t.Helper()
	l = etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: pod})
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
// its revision.
func putApproval(t *testing.T, cli *clientv3.Client, k etcdsync.Layout, ap etcdsync.Approval, opts ...clientv3.OpOption) int64 {
	t.Helper()
	v, _ := json.Marshal(ap)
	resp, err := cli.Put(context.Background(), k.Approval(ap.ID), string(v), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// A use is a use key under approval-uses/, created by the sidecar on the
// grant's uses lease: an approval for 3 uses admits exactly 3 of 12
// concurrent requests over two ledgers, with use keys 1, 2 and 3 holding
// each request's id and sidecar; the record itself is never rewritten and
// nothing is written under events/.
func TestLedgerCountsUsesAsUseKeys(t *testing.T) {
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
	resp, err := cli.Get(ctx, k.ApprovalUses(ap.ID), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
		u, err := etcdsync.DecodeApprovalUse(kv.Value)
		if err != nil || u.Client != "c1" || u.Route != "POST /x" || u.RequestID == "" || u.Sidecar == "" || u.Time.IsZero() {
			t.Errorf("use record %s = %+v, %v; want client, route, request id, sidecar and time", kv.Key, u, err)
		}
		if kv.Lease != int64(lease.ID) {
			t.Errorf("use key %s on lease %x, want the uses lease %x", kv.Key, kv.Lease, lease.ID)
		}
	}
	if want := []string{k.ApprovalUse(ap.ID, 1), k.ApprovalUse(ap.ID, 2), k.ApprovalUse(ap.ID, 3)}; fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("use keys = %v, want %v", keys, want)
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
	if resp, err := cli.Get(ctx, k.ApprovalUses(ap.ID), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 0 {
		t.Errorf("use keys after their lease ended: %v %v; want none", resp, err)
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
	if resp, err := cli.Get(context.Background(), k.ApprovalUses(ap.ID), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 1 {
		t.Errorf("use keys = %v %v; want the one use before the denial", resp, err)
	}
}

// A record that counted uses itself (written before the use keys) keeps
// them: use numbers start after them, so an approval for 2 with 1 counted
// admits one more.
func TestLedgerKeepsUsesCountedInTheRecord(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	ap := etcdsync.Approval{ID: "apr_old", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 2, Uses: 1, Expires: now.Add(time.Hour)}
	putApproval(t, cli, k, ap)
	l, _ := runLedger(t, cli, prefix, "pod-0")
	got := []bool{l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now), l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now)}
	if fmt.Sprint(got) != "[true false]" {
		t.Errorf("two uses of a 2-use approval with 1 counted in its record = %v, want [true false]", got)
	}
	resp, err := cli.Get(context.Background(), k.ApprovalUses(ap.ID), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != k.ApprovalUse(ap.ID, 2) {
		t.Errorf("use keys = %v %v; want only use 2", resp, err)
	}
}

// ParseApprovalUse reads back exactly the keys ApprovalUse makes and
// nothing else: a sidecar may write anything under approval-uses/.
func TestParseApprovalUse(t *testing.T) {
	t.Parallel()
	k := etcdsync.NewLayout("/p")
	if id, n, ok := k.ParseApprovalUse(k.ApprovalUse("apr_1", 12)); !ok || id != "apr_1" || n != 12 {
		t.Errorf("ParseApprovalUse(ApprovalUse(apr_1, 12)) = %q %d %v", id, n, ok)
	}
	for _, key := range []string{"/p/approval-uses/apr_1/0", "/p/approval-uses/apr_1/01", "/p/approval-uses/apr_1/-1", "/p/approval-uses/apr_1/+1",
		"/p/approval-uses/apr_1/1/2", "/p/approval-uses/apr_1/", "/p/approval-uses/APR/1", "/p/approval-uses//1", "/p/approvals/apr_1",
		"/q/approval-uses/apr_1/1", "/p/approval-uses/apr_1/99999999999999999999"} {
		if id, n, ok := k.ParseApprovalUse(key); ok {
			t.Errorf("ParseApprovalUse(%q) = %q %d, want not a use key", key, id, n)
		}
	}
}
