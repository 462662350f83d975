package etcdadmin

import (
	"context"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestApprovalDeniedBeforeGrantShowsNoUse: a request denied before any
// grant has no use counter, and approvals show and list counted it used up
// ("uses 1 of 1", the fail-safe reading of a granted approval whose counter
// is gone), so the list said an export ran on an approval nobody granted.
// A denial of a pending request shows no use.
func TestApprovalDeniedBeforeGrantShowsNoUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: "POST /v1/exports/full"}, Meta{Actor: "alice", Reason: "export"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DenyApproval(ctx, ap.ID, "", "", Meta{Actor: "bob", Reason: "not now"}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ShowApproval(ctx, ap.ID); err != nil || got.State != etcdsync.ApprovalDenied || got.Uses != 0 {
		t.Errorf("ShowApproval of a request denied before any grant = %s, %d uses, %v; want denied, 0 uses", got.State, got.Uses, err)
	}
	all, err := a.ListApprovals(ctx)
	if err != nil || len(all) != 1 || all[0].Uses != 0 {
		t.Errorf("ListApprovals = %+v, %v; want the one denial with 0 uses", all, err)
	}
}

// TestDeniedGrantKeepsItsLease: a granted approval is written on a lease
// of its max_age, so that it leaves etcd when it expires; denying it
// (withdrawing the grant) wrote the record again without the lease, and
// the denied record stayed in etcd for ever (review56). It keeps the
// grant's lease.
func TestDeniedGrantKeepsItsLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	push(t, a, examplePolicy(t))
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: "POST /v1/exports/full"}, Meta{Actor: "alice", Reason: "export"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	lease := func() int64 {
		resp, err := cli.Get(ctx, a.k.Approval(ap.ID))
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reading approval %s: %v, %d records", ap.ID, err, len(resp.Kvs))
		}
		return resp.Kvs[0].Lease
	}
	granted := lease()
	if granted == 0 {
		t.Fatal("the granted approval has no lease")
	}
	if _, err := a.DenyApproval(ctx, ap.ID, "", "", Meta{Actor: "carol", Reason: "withdrawn"}); err != nil {
		t.Fatal(err)
	}
	if got := lease(); got != granted {
		t.Errorf("the denied grant's record is on lease %x, want the grant's %x: it would stay in etcd for ever", got, granted)
	}
}
