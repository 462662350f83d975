package etcdadmin

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A suspension goes with its lease at its until; one deleted by hand
// before it was flagged only when the follower read the delete before
// the until by its own clock. Read after (the collector down meanwhile,
// or its clock ahead of the suspender's), the delete was taken for the
// lease's end and the client, served again early, left nothing in the
// trail. A suspension deleted while etcd still holds its lease was not
// deleted by it, and is flagged whatever the clocks say.
func TestFollowFlagsASuspensionDeletedWhileItsLeaseHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, examplePolicy(t))
	if _, err := a.Suspend(ctx, "acme-admin", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	del, err := cli.Delete(ctx, k.Suspension("acme-admin"))
	if err != nil || del.Deleted != 1 {
		t.Fatalf("deleting the suspension by hand: %v", err)
	}
	// The follower reads the delete two hours on, past the until: the
	// lease, of that hour on etcd's clock, still holds.
	late := New(cli, prefix)
	late.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	f := follow(t, late, 0)
	f.stopAfterLastKey(t, a, "acme-hris", meta)
	u := unattributedOf(f.events())
	if len(u) != 1 || u[0].Action != ActionSuspensionDeleted || u[0].Target != "acme-admin" || u[0].Revision != del.Header.Revision || u[0].Unverified == "" {
		t.Errorf("suspension deleted by hand while its lease held, read after its until: %+v, want one flagged %s of acme-admin at %d", u, ActionSuspensionDeleted, del.Header.Revision)
	}
}

// A use counter goes with its uses lease at its grant's expiry plus
// etcdsync.UseRetention; one deleted before was flagged only when the
// follower read the delete before that end by its own clock. A counter
// deleted while etcd still holds its uses lease was not deleted by it,
// and its approval.counter_delete is flagged whatever the clocks say.
func TestFollowFlagsACounterDeletedWhileItsLeaseHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	route, ap := twoUseGrant(t, ctx, a)
	if err := a.RequireApproval(ctx, ap.ID, "acme-admin", route, Meta{Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	del, err := cli.Delete(ctx, k.ApprovalCounter(ap.ID)) // within the sidecar role
	if err != nil || del.Deleted != 1 {
		t.Fatalf("deleting the counter by hand: %v", err)
	}
	// Another grant's counter put on no lease, then deleted: no lease
	// took it.
	other, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export", Ticket: "CHG-9"})
	if err != nil {
		t.Fatal(err)
	}
	if other, err = a.GrantApproval(ctx, other.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, k.ApprovalCounter(other.ID), "{}"); err != nil { // off its lease
		t.Fatal(err)
	}
	del2, err := cli.Delete(ctx, k.ApprovalCounter(other.ID))
	if err != nil || del2.Deleted != 1 {
		t.Fatalf("deleting the counter on no lease by hand: %v", err)
	}
	// Read past the uses lease's end by the follower's clock.
	late := New(cli, prefix)
	late.now = func() time.Time { return time.Now().Add(etcdsync.UseRetention + 3*time.Hour) }
	f := follow(t, late, 0)
	f.stopAfterLastKey(t, a, "acme-hris", meta)
	var got []Event
	for _, e := range f.events() {
		if e.Action == ActionCounterDelete {
			got = append(got, e)
		}
	}
	if len(got) != 2 || got[0].Target != ap.ID || got[0].Revision != del.Header.Revision || got[0].Unverified == "" ||
		got[1].Target != other.ID || got[1].Revision != del2.Header.Revision || got[1].Unverified == "" {
		t.Errorf("counters deleted by hand while the uses lease held, or on no lease, read after its end: %+v, want flagged %s of %s at %d and of %s at %d",
			got, ActionCounterDelete, ap.ID, del.Header.Revision, other.ID, del2.Header.Revision)
	}
}
