package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// rotateRig is a prefix holding the example policy with
// privileged_key_approval on, a live key of acme-admin (privileged, made
// with a second person's approval) and a granter of keys create
// approvals by alice, granted by bob (grantedFor: of another route,
// such as "keys rotate").
type rotateRig struct {
	a          *Admin
	old        string // acme-admin's key
	alice      Meta
	granted    func(client string) string
	grantedFor func(client, route string) string
}

func newRotateRig(t *testing.T) *rotateRig {
	t.Helper()
	ctx := context.Background()
	r := &rotateRig{a: New(dial(t, shared), newPrefix(t)), alice: Meta{Actor: "alice", Reason: "rotation attempts", Ticket: "CHG-198"}}
	push(t, r.a, strictPolicy(t))
	r.grantedFor = func(client, route string) string {
		t.Helper()
		ap, err := r.a.RequestApproval(ctx, ApprovalRequest{Client: client, Route: route}, r.alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob", Ticket: "CHG-198"}); err != nil {
			t.Fatal(err)
		}
		return ap.ID
	}
	r.granted = func(client string) string { t.Helper(); return r.grantedFor(client, KeysCreateRoute) }
	_, spec, err := r.a.CreateKey(ctx, "acme-admin", 24*time.Hour, withApproval(r.alice, r.granted("acme-admin")))
	if err != nil {
		t.Fatal(err)
	}
	r.old = spec.ID
	return r
}

// An approval granted for acme-hris's keys rotate does not let alice
// rotate acme-admin's key: an approval is one client's. Held.
func TestApprovalOfAnotherClientSpentOnRotation(t *testing.T) {
	t.Parallel()
	r := newRotateRig(t)
	_, _, err := r.a.RotateKey(context.Background(), r.old, time.Hour, withApproval(r.alice, r.grantedFor("acme-hris", KeysRotateRoute)))
	if !errors.Is(err, ErrNotApproved) {
		t.Fatalf("rotating acme-admin's key with acme-hris's approval: %v; want ErrNotApproved", err)
	}
}

// One keys rotate approval admits one rotation: spent, a second
// rotation with it is refused, and so is a create (of another kind:
// TestRotationTakesARotateApprovalNotACreateOne). Held.
func TestOneApprovalForARotationAndACreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRotateRig(t)
	id := r.grantedFor("acme-admin", KeysRotateRoute)
	_, next, err := r.a.RotateKey(ctx, r.old, time.Hour, withApproval(r.alice, id))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.a.RotateKey(ctx, next.ID, time.Hour, withApproval(r.alice, id)); !errors.Is(err, ErrNotApproved) {
		t.Errorf("keys rotate with the approval a rotation spent: %v; want ErrNotApproved", err)
	}
	if _, _, err := r.a.CreateKey(ctx, "acme-admin", time.Hour, withApproval(r.alice, id)); !errors.Is(err, ErrNotApproved) {
		t.Errorf("keys create with the approval a rotation spent: %v; want ErrNotApproved", err)
	}
}

// Two rotations racing with one approval: etcd's transaction on the
// use counter lets one through. Held.
func TestTwoRotationsRaceForOneApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRotateRig(t)
	_, second, err := r.a.CreateKey(ctx, "acme-admin", time.Hour, withApproval(r.alice, r.granted("acme-admin")))
	if err != nil {
		t.Fatal(err)
	}
	id := r.grantedFor("acme-admin", KeysRotateRoute)
	errs := make(chan error, 2)
	for _, k := range []string{r.old, second.ID} {
		go func() {
			_, _, err := r.a.RotateKey(ctx, k, time.Hour, withApproval(r.alice, id))
			errs <- err
		}()
	}
	ok := 0
	for range 2 {
		if err := <-errs; err == nil {
			ok++
		} else if !errors.Is(err, ErrNotApproved) && !errors.Is(err, ErrConflict) {
			t.Errorf("losing rotation: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d rotations went through on one single-use approval; want 1", ok)
	}
}

// A key rotated after a push's approval was asked, of a client whose
// scope the push makes privileged, stops the push: the approver did not
// see the successor. Held.
func TestRotationAfterAPushApprovalWasAsked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	strict := strictPolicy(t)
	push(t, a, strict)
	alice := Meta{Actor: "alice", Reason: "reports hold personal data", Ticket: "CHG-198"}
	_, bi, err := a.CreateKey(ctx, "globex-bi", time.Hour, alice)
	if err != nil {
		t.Fatal(err)
	}
	priv := edit(t, strict, "description: Read generated reports\n", "description: Read generated reports\n    privileged: true\n")
	priv = edit(t, priv, `path: "/v1/reports/{id}", class: standard`, `path: "/v1/reports/{id}", class: privileged`)
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: priv}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, priv, "bob", "globex-bi's keys checked", Meta{Actor: "bob", Ticket: "CHG-198"}); err != nil {
		t.Fatal(err)
	}
	_, next, err := a.RotateKey(ctx, bi.ID, 10*time.Minute, alice)
	if err != nil {
		t.Fatalf("rotating globex-bi's key while read:reports is not privileged: %v", err)
	}
	if _, err := a.PushPolicy(ctx, priv, 0, withApproval(alice, ap.ID)); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), next.ID) {
		t.Fatalf("push making read:reports privileged over successor %s made since its approval was asked: %v; want ErrNotApproved naming it", next.ID, err)
	}
}

// A huge --overlap never lengthens the old key: it keeps its not_after.
// Held.
func TestHugeOverlapKeepsTheOldKeysEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRotateRig(t)
	before, _, err := r.a.etcdKey(ctx, r.old)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.a.RotateKey(ctx, r.old, 290*365*24*time.Hour, withApproval(r.alice, r.grantedFor("acme-admin", KeysRotateRoute))); err != nil {
		t.Fatal(err)
	}
	after, _, err := r.a.etcdKey(ctx, r.old)
	if err != nil {
		t.Fatal(err)
	}
	if after.NotAfter != before.NotAfter {
		t.Errorf("old key's not_after %s after a 290-year overlap; want %s", after.NotAfter, before.NotAfter)
	}
}
