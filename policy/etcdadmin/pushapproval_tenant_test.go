package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A privileged client moved into another tenant takes its keys and
// mTLS identities with it: acme's admin console becomes another
// tenant's administrator, which no second person approved. Making a privileged
// client of that tenant takes an approval (a client given a privileged
// scope), and so did moving one into the tenant of an issuer; moving
// acme-admin to a tenant no issuer names was a plain push by one operator (attack174).
func TestPushMovingAPrivilegedClientToAnotherTenantNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	// A third tenant, initech, which no issuer names: the move counted
	// before only when an issuer's tokens could name the client there.
	strict := edit(t, strictPolicy(t), "tenants:\n", "tenants:\n  - id: initech\n    name: Initech\n")
	push(t, a, strict)
	moved := edit(t, strict, "  - id: acme-admin\n    tenant: acme\n", "  - id: acme-admin\n    tenant: initech\n")
	_, err := a.PushPolicy(ctx, moved, 0, Meta{Actor: "alice", Reason: "acme-admin serves initech", Ticket: "CHG-51"})
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `client "acme-admin" (privileged) moved from tenant "acme" to "initech"`) {
		t.Fatalf("push moving privileged client acme-admin to tenant initech without an approval: %v; want ErrNotApproved naming the move", err)
	}
	if got := policyDigest(t, a); got != digestOf(strict) {
		t.Errorf("policy in etcd is %s after the refused push; want the strict one", got)
	}
	// A client that holds no privileged scope moves on one person's word,
	// as one is made.
	hris := edit(t, strict, "  - id: acme-hris\n    tenant: acme\n", "  - id: acme-hris\n    tenant: initech\n")
	if _, err := a.PushPolicy(ctx, hris, 0, Meta{Actor: "alice", Reason: "acme-hris serves initech", Ticket: "CHG-52"}); err != nil {
		t.Errorf("push moving acme-hris (no privileged scope) to initech: %v; want it pushed", err)
	}
}
