package etcdadmin

import (
	"context"
	"testing"
)

// The two-person rule tells requester and approver apart by name (and by
// etcd user when there is one): a request whose requester has no visible
// name, or a grant by an approver with none, leaves it nothing to
// compare. Before, alice could ask as --actor " " (or a zero-width
// space) and grant the request herself under her own name.
func TestApprovalNeedsVisibleNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	const route = "POST /v1/exports/full"
	for _, blank := range []string{" ", "\u200b", " \u2060\t"} {
		if ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: blank, Reason: "export", Ticket: "CHG-1"}); err == nil {
			if _, err := a.GrantApproval(ctx, ap.ID, "alice", "ok", Meta{Actor: "alice"}); err == nil {
				t.Errorf("a request by %q was accepted and granted by alice", blank)
			}
		}
	}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export", Ticket: "CHG-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "\u200b", "ok", Meta{Actor: "bob"}); err == nil {
		t.Error("a grant by an approver with no visible name was accepted")
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Errorf("bob's grant of alice's request: %v", err)
	}
}
