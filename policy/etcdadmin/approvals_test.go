package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// RequireApproval is what `keys create` calls under the lifecycle policy
// privileged_key_approval: it takes one use of a granted approval for
// the client on the "keys create" route, counted in etcd with an
// approval.use event, and refuses anything else.
func TestRequireApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	alice, bob := Meta{Actor: "alice", Reason: "new key for the export job", Ticket: "CHG-20"}, Meta{Actor: "bob"}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if ap.MaxUses != 1 || ap.MaxAge != "1h0m0s" || ap.State != etcdsync.ApprovalPending {
		t.Errorf("requested %+v, want pending, 1 use, 1h", ap)
	}
	notApproved := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNotApproved) {
			t.Errorf("%s: RequireApproval = %v, want ErrNotApproved", what, err)
		}
	}
	notApproved("no id", a.RequireApproval(ctx, "", "acme-admin", KeysCreateRoute, alice))
	notApproved("pending", a.RequireApproval(ctx, ap.ID, "acme-admin", KeysCreateRoute, alice))
	if _, err := a.GrantApproval(ctx, ap.ID, "Alice ", "", alice); !errors.Is(err, ErrSelfApproval) {
		t.Errorf("grant by its requester = %v, want ErrSelfApproval", err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	notApproved("another client", a.RequireApproval(ctx, ap.ID, "acme-hris", KeysCreateRoute, alice))
	notApproved("another route", a.RequireApproval(ctx, ap.ID, "acme-admin", "POST /v1/exports/full", alice))
	// Concurrent callers: the one use goes to exactly one.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { errs[i] = a.RequireApproval(ctx, ap.ID, "acme-admin", KeysCreateRoute, alice) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrNotApproved) && !errors.Is(err, ErrConflict) {
			t.Errorf("RequireApproval = %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent RequireApproval succeeded, want 1: %v", ok, len(errs), errs)
	}
	evs, err := a.ListEvents(ctx, ap.Requested.Add(-1), ap.Requested.Add(1<<40))
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "approval.request approval.grant approval.use" {
		t.Errorf("events = %q, want request, grant, one use", got)
	}
}

// A route the policy does not require an approval for is refused, naming
// those that do.
func TestRequestApprovalUnknownRoute(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	_, err := a.RequestApproval(context.Background(), ApprovalRequest{Client: "acme-admin", Route: "POST /v1/exports"}, meta)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"POST /v1/exports/full"`) {
		t.Errorf("RequestApproval on a route without approval = %v, want ErrNotFound naming POST /v1/exports/full", err)
	}
}

// The two-person rule holds against the requester running the grant
// herself and naming someone else as the approver (--actor alice, the
// default OS account, with --approver bob), and against names that differ
// from the requester's only by case, spaces or invisible characters
// (zero-width space, zero-width joiner, byte order mark). Before, only
// --approver was compared, with case and the outer spaces ignored, so
// alice could grant her own request by naming bob, or as "ali\u200bce".
func TestGrantByRequesterUnderAnotherName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	alice := Meta{Actor: "alice", Reason: "export for the audit", Ticket: "CHG-21"}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	for _, tc := range []struct{ approver, actor string }{
		{"bob", "alice"},
		{"bob", " ALICE\t"},
		{"ali\u200bce", "carol"},
		{"\ufeffalice", "carol"},
		{"al\u200dice", "carol"},
		{"bob", "a l i c e"},
	} {
		if _, err := a.GrantApproval(ctx, ap.ID, tc.approver, "", Meta{Actor: tc.actor}); !errors.Is(err, ErrSelfApproval) {
			t.Errorf("grant as approver %q by actor %q = %v, want ErrSelfApproval", tc.approver, tc.actor, err)
		}
	}
	got, err := a.ShowApproval(ctx, ap.ID)
	if err != nil || got.State != etcdsync.ApprovalPending {
		t.Fatalf("after the refused grants: state %q, %v; want pending", got.State, err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Errorf("grant by bob = %v, want nil", err)
	}
}
