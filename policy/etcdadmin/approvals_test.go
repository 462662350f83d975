package etcdadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
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

// A grant stores uses as max_uses (so binaries from before the counter see
// it used up) and creates its counter in its own transaction; a denial
// after a use records the counter's revision, so approvals show still
// counts that use, and a grant from before the counter is refused.
func TestGrantWritesTheCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, bytes.Replace(examplePolicy(t), []byte("max_uses: 1, max_age: 1h"), []byte("max_uses: 3, max_age: 1h"), 1))
	const route = "POST /v1/exports/full"
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Txn(ctx).Then(clientv3.OpGet(k.Approval(ap.ID)), clientv3.OpGet(k.ApprovalCounter(ap.ID))).Commit()
	if err != nil {
		t.Fatal(err)
	}
	rec, counter := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
	if len(rec) != 1 || len(counter) != 1 {
		t.Fatalf("record %v, counter %v; want both", rec, counter)
	}
	stored, _ := etcdsync.DecodeApproval(rec[0].Value)
	if !stored.UsesCounter || stored.Uses != 3 || counter[0].CreateRevision != rec[0].ModRevision || counter[0].Version != 1 || counter[0].Lease != stored.UsesLease {
		t.Errorf("stored grant uses_counter %v uses %d; counter created at %d (grant at %d) version %d lease %x (uses lease %x); want true, 3, the grant's revision, 1, the uses lease",
			stored.UsesCounter, stored.Uses, counter[0].CreateRevision, rec[0].ModRevision, counter[0].Version, counter[0].Lease, stored.UsesLease)
	}
	if err := a.RequireApproval(ctx, ap.ID, "acme-admin", route, Meta{Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DenyApproval(ctx, ap.ID, "", "", Meta{Actor: "bob", Reason: "withdrawn"}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ShowApproval(ctx, ap.ID); err != nil || got.Uses != 1 || got.State != etcdsync.ApprovalDenied {
		t.Errorf("ShowApproval after a use and a denial = %s, %d uses, %v; want denied, 1 use", got.State, got.Uses, err)
	}
	old, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export"})
	if err != nil {
		t.Fatal(err)
	}
	old.UsesCounter, old.Uses = false, 0 // as a binary before the counter wrote it
	v, _ := json.Marshal(old)
	// Written once, as the old binary did: a record written again after
	// its request is refused for that (TestGrantRefusesARewrittenRequest).
	if _, err := cli.Delete(ctx, k.Approval(old.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, k.Approval(old.ID), string(v)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, old.ID, "bob", "ok", Meta{Actor: "bob"}); err == nil || !strings.Contains(err.Error(), "before the use counter") {
		t.Errorf("grant of a request from before the counter = %v, want refused", err)
	}
}
