package etcdadmin

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A decision is compared with the record it replaced field by field, and
// its times were compared as Go values: a time decoded from an offset
// that is not a whole hour (+05:30) gets a location of its own at each
// decode, so the same instant, written back unchanged by approvals grant
// or deny, compared unequal. A request written with such a time (a
// requester's own transaction, with its approval.request event) made the
// second person's real grant and denial of it approval.written_unattributed,
// firing the unverified-event alert for every decision on it. Times now
// compare as instants.
func TestFollowTakesADecisionOfARequestTimedInAnotherZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	const route = "POST /v1/exports/full"
	alice, bob := Meta{Actor: "alice", Reason: "export", Ticket: "CHG-1"}, Meta{Actor: "bob", Ticket: "CHG-1"}
	template, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, alice)
	if err != nil {
		t.Fatal(err)
	}
	india := time.FixedZone("IST", 5*3600+1800)
	request := func() string {
		t.Helper()
		id, err := newApprovalID()
		if err != nil {
			t.Fatal(err)
		}
		ap := template
		ap.ID, ap.Requested = id, time.Now().In(india)
		put, err := putJSON(a.k.Approval(id), ap)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := a.eventOp(ap.Requested, etcdsync.ActionApprovalRequest, id, alice, approvalDetails(ap))
		if err != nil {
			t.Fatal(err)
		}
		if tx, err := a.cli.Txn(ctx).Then(put, ev).Commit(); err != nil || !tx.Succeeded {
			t.Fatalf("writing request %s: %v", id, err)
		}
		return id
	}
	granted, denied := request(), request()
	resp, err := a.cli.Get(ctx, a.k.Policy())
	if err != nil {
		t.Fatal(err)
	}
	f := follow(t, a, resp.Header.Revision)
	if _, err := a.GrantApproval(ctx, granted, "bob", "ok", bob); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DenyApproval(ctx, denied, "bob", "no", bob); err != nil {
		t.Fatal(err)
	}
	last, err := a.cli.Get(ctx, a.k.Approval(denied))
	if err != nil || len(last.Kvs) != 1 {
		t.Fatalf("reading %s: %v", denied, err)
	}
	if got := flaggedAt(t, f, last.Kvs[0].ModRevision); len(got) != 0 {
		t.Errorf("unattributed events = %v, want none: approvals grant and deny of a request timed +05:30 changed nothing but the decision", got)
	}
}
