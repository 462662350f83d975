package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A push that gives a client a privileged scope makes its keys
// privileged credentials, which the approver reviews when granting it.
// The approval names the document and the policy revision it was asked
// against, not the keys: the requester made a key for the client (no
// approval: it was not privileged yet) after the second person had
// granted it, then spent the grant, and held a privileged credential no
// second person saw; `keys create --approval` was never asked. Such a
// push is now refused, naming the key, until the approval is asked again
// (attack174).
func TestPushApprovalDoesNotCoverKeysMadeSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	strict := strictPolicy(t)
	push(t, a, strict)
	// globex-bi, with read:reports only, is given admin:settings.
	priv := edit(t, strict, "owner: bi-team@globex.example\n    scopes: [read:reports]", "owner: bi-team@globex.example\n    scopes: [read:reports, admin:settings]")
	alice, bob := Meta{Actor: "alice", Reason: "globex-bi administers its settings", Ticket: "CHG-50"}, Meta{Actor: "bob", Ticket: "CHG-50"}

	keyMadeSinceApprovalRefused(t, a, strict, priv, alice, bob)

	// Asked again, the approver sees the key, and the push goes through.
	ap2, err := a.RequestApproval(ctx, ApprovalRequest{Policy: priv}, alice)
	if err != nil {
		t.Fatalf("RequestApproval again: %v", err)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap2.ID, priv, "bob", "keys checked again", bob); err != nil {
		t.Fatalf("GrantApproval again: %v", err)
	}
	if _, err := a.PushPolicy(ctx, priv, 0, withApproval(alice, ap2.ID)); err != nil {
		t.Fatalf("push with an approval asked after the key: %v", err)
	}
}

// A scope a client already holds, made privileged by a push that needs an
// approval, makes its keys privileged credentials as a scope given it
// does: a key made for it since the approval was asked is refused too
// (read186: only a scope given the client counted).
func TestPushApprovalDoesNotCoverKeysMadeSinceForAScopeMadePrivileged(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	strict := strictPolicy(t)
	push(t, a, strict)
	// globex-bi holds read:reports, which the push makes privileged.
	priv := edit(t, strict, "description: Read generated reports\n", "description: Read generated reports\n    privileged: true\n")
	priv = edit(t, priv, `path: "/v1/reports/{id}", class: standard`, `path: "/v1/reports/{id}", class: privileged`)
	alice, bob := Meta{Actor: "alice", Reason: "reports hold personal data", Ticket: "CHG-51"}, Meta{Actor: "bob", Ticket: "CHG-51"}
	keyMadeSinceApprovalRefused(t, a, strict, priv, alice, bob)
}

// A push that makes a scope some clients already hold privileged makes
// their existing keys privileged credentials, as a push giving them a
// privileged scope does: it needs a second person's approval, and its
// refusal names the scope and the client. Before, it weakened nothing,
// went through on one person's word, and globex-bi's keys, made without
// keys create --approval, became privileged credentials (review193).
func TestPushMakingAHeldScopePrivilegedNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	strict := strictPolicy(t)
	push(t, a, strict)
	priv := edit(t, strict, "description: Read generated reports\n", "description: Read generated reports\n    privileged: true\n")
	priv = edit(t, priv, `path: "/v1/reports/{id}", class: standard`, `path: "/v1/reports/{id}", class: privileged`)
	_, err := a.PushPolicy(ctx, priv, 0, Meta{Actor: "alice", Reason: "reports hold personal data", Ticket: "CHG-52"})
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `scope "read:reports" made privileged, and client "globex-bi" holds it`) {
		t.Fatalf("push making globex-bi's read:reports privileged without an approval: %v; want ErrNotApproved naming the scope and globex-bi", err)
	}
	if got := policyDigest(t, a); got != digestOf(strict) {
		t.Errorf("policy in etcd is %s after the refused push; want the strict one", got)
	}
	pushApproved(t, a, priv)
}

// keyMadeSinceApprovalRefused asks alice's approval of the push of priv
// over strict (in a), has bob grant it, makes alice a key of globex-bi
// (no approval: it is not privileged yet), and checks the push spending
// the grant is refused naming the key, strict still in etcd.
func keyMadeSinceApprovalRefused(t *testing.T, a *Admin, strict, priv []byte, alice, bob Meta) {
	t.Helper()
	ctx := context.Background()
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: priv}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if !strings.Contains(ap.Route, "policy push") {
		t.Fatalf("approval route %q", ap.Route)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, priv, "bob", "globex-bi's keys checked", bob); err != nil {
		t.Fatalf("GrantApproval by bob: %v", err)
	}
	// After bob's review, alice makes a key of her own for globex-bi:
	// no approval, it holds no privileged scope yet.
	_, spec, err := a.CreateKey(ctx, "globex-bi", time.Hour, alice)
	if err != nil {
		t.Fatalf("keys create for globex-bi: %v", err)
	}
	_, err = a.PushPolicy(ctx, priv, 0, withApproval(alice, ap.ID))
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), spec.ID) {
		t.Fatalf("push making globex-bi's keys privileged after key %s was made for it since the approval was asked: %v; want ErrNotApproved naming the key", spec.ID, err)
	}
	if got := policyDigest(t, a); got != digestOf(strict) {
		t.Errorf("policy in etcd is %s after the refused push; want the strict one", got)
	}
}
