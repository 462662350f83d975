package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The approver of a policy push reads what the request's event says the
// document weakens, computed against the policy in etcd at the request.
// A plain push in between (here: a detection rule added) changes what the
// same document weakens (it now removes that rule too), which nobody
// approved. Before, the grant and the push both went through: the
// approval named the document only. Now both refuse an approval asked
// against another policy revision.
func TestPushApprovalBoundToItsPolicyRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	base := examplePolicy(t)
	push(t, a, base)
	const rule = "  - {name: key-rotation-due, kind: key_rotation, severity: medium}\n"
	weak := edit(t, base, "max_key_age: 87600h", "max_key_age: 175200h")
	ruled := edit(t, base, rule, rule+"  - {name: extra-probe, kind: tenant_probe, group_by: source, threshold: 5, window: 10m, severity: high}\n")
	alice, bob := Meta{Actor: "alice", Reason: "longer keys", Ticket: "CHG-41"}, Meta{Actor: "bob", Ticket: "CHG-41"}

	// Granted, then the policy moved on: the push is refused.
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "diff read", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	push(t, a, ruled)
	_, err = a.PushPolicy(ctx, weak, 0, withApproval(alice, ap.ID))
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "request it again") {
		t.Errorf("push over a policy pushed since the request: %v; want ErrNotApproved saying to request it again", err)
	}

	// Asked, then the policy moved on: the grant is refused.
	ap, err = a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	push(t, a, edit(t, ruled, rule, rule+"  - {name: extra-probe-2, kind: tenant_probe, group_by: client, threshold: 9, window: 10m, severity: high}\n"))
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "diff read", bob); !errors.Is(err, ErrNotApproved) {
		t.Errorf("grant after a push since the request: %v; want ErrNotApproved", err)
	}

	// Asked, granted and used on the same policy: it goes through.
	ap, err = a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "diff read", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	if _, err := a.PushPolicy(ctx, weak, 0, withApproval(alice, ap.ID)); err != nil {
		t.Errorf("push on the policy the approval was asked against: %v", err)
	}
}
