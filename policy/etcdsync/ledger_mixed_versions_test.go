package etcdsync_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// oldUse takes one use of approval id as the binaries before the use keys
// do (main's Ledger.Consume and etcdadmin.approvalUse, still run by any
// sidecar not yet rolled and any operator's older portcullis CLI): read the
// record, refuse it used up, else rewrite it with uses+1 (the struct they
// knew had no uses_lease) if its mod revision is unchanged.
func oldUse(t *testing.T, cli *clientv3.Client, k etcdsync.Layout, id string) bool {
	t.Helper()
	ctx := context.Background()
	resp, err := cli.Get(ctx, k.Approval(id))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("old binary reads %s: %v", id, err)
	}
	a, err := etcdsync.DecodeApproval(resp.Kvs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != etcdsync.ApprovalGranted || a.Uses >= a.MaxUses {
		return false
	}
	a.Uses++
	a.LastUse, a.UsesLease = time.Now().UTC(), 0
	v, _ := json.Marshal(a)
	tx, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k.Approval(id)), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(k.Approval(id), string(v), clientv3.WithIgnoreLease())).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return tx.Succeeded
}

// With a sidecar (or the operator's CLI) of the version before the
// counter still about, a single-use approval must admit one request: a
// new grant stores uses = max_uses, so the old binary (oldUse,
// the transaction it ran) sees it used up, and the new ledger counts only
// its counter. (Found by an outside review: without that, each binary
// admitted one.)
func TestMixedVersionsCannotDoubleSpendSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	ap := etcdsync.Approval{ID: "apr_mixed", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1,
		Expires: time.Now().Add(time.Hour), UsesLease: int64(lease.ID)}
	putApproval(t, cli, k, ap)
	l, _ := runLedger(t, cli, prefix, "pod-new")
	admitted := 0
	if l.Consume([]byte(ap.ID), "c1", "POST /x", []byte("req-new"), time.Now()) {
		admitted++
	}
	if oldUse(t, cli, k, ap.ID) {
		admitted++
	}
	if l.Consume([]byte(ap.ID), "c1", "POST /x", []byte("req-new-2"), time.Now()) {
		admitted++
	}
	if admitted != 1 {
		t.Errorf("a single-use approval admitted %d requests across a new ledger and an old binary, want 1", admitted)
	}
}
