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
