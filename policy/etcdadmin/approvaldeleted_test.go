package etcdadmin

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A granted approval's record goes with its lease at its expiry; one
// deleted by hand before it was flagged only when the follower read the
// delete before the expiry by its own clock. Read after (the collector
// down meanwhile, or its clock ahead of the granter's), the delete was
// taken for the lease's end, a withdrawn grant's too. etcd tells them
// apart while the lease still holds: a record deleted with its lease
// still granted was not deleted by it, and is flagged whatever the
// clocks say.
func TestFollowFlagsAnApprovalDeletedWhileItsLeaseHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	push(t, a, approvalPolicy(t))
	alice := Meta{Actor: "alice", Reason: "keys", Ticket: "CHG-70"}
	granted := grantedKeyApproval(t, a, "acme-admin", KeysCreateRoute)
	withdrawn := grantedKeyApproval(t, a, "acme-admin", KeysCreateRoute)
	if _, err := a.DenyApproval(ctx, withdrawn, "bob", "withdrawn", Meta{Actor: "bob", Ticket: "CHG-70"}); err != nil {
		t.Fatal(err)
	}
	var revs []int64
	for _, id := range []string{granted, withdrawn} {
		resp, err := cli.Delete(ctx, a.k.Approval(id))
		if err != nil || resp.Deleted != 1 {
			t.Fatalf("deleting approval record %s by hand: %v", id, err)
		}
		revs = append(revs, resp.Header.Revision)
	}
	// The follower reads the deletes two hours on, past the grants' one
	// hour: their leases, of that hour on etcd's clock, still hold.
	late := New(cli, prefix)
	late.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	f := follow(t, late, 0)
	f.stopAfterLastKey(t, a, "acme-hris", alice)
	type flag struct {
		action, target string
		rev            int64
	}
	want := []flag{{ActionApprovalDeleted, granted, revs[0]}, {ActionApprovalDeleted, withdrawn, revs[1]}}
	var got []flag
	for _, e := range unattributedOf(f.events()) {
		got = append(got, flag{e.Action, e.Target, e.Revision})
	}
	if !slices.Equal(got, want) {
		t.Errorf("approval records deleted by hand while their leases held, read after their expiry: %v, want %v", got, want)
	}
}
