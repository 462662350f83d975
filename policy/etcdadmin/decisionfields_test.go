package etcdadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An approval.grant event spoke for its record granted by the approver it
// names whatever else changed: a pending request rewritten by hand, in
// the grant event's transaction, into a grant for another client and
// route with more uses and a longer life passed. So did a denial under an
// approval.deny naming another client, and any rewrite under an
// approval.use (which the CLI writes with the counter's put, never the
// record). A decision now speaks for its record only when, compared with
// the record it replaced, nothing but the state, the approver and the
// decision's own fields changed (max_uses and max_age only lowered, to
// the policy's), decided no later than the follower read it (a grant
// postdated a month admitted requests then); the CLI's own grants, with
// the limits a tighter policy lowered, and denials, are not flagged.
func TestFollowFlagsADecisionThatRewroteTheRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	const route = "POST /v1/exports/full"
	loose := bytes.Replace(examplePolicy(t), []byte("approval: {required: true, max_uses: 1, max_age: 1h}"),
		[]byte("approval: {required: true, max_uses: 50, max_age: 168h}"), 1)
	push(t, a, loose)
	alice, bob := Meta{Actor: "alice", Reason: "export", Ticket: "CHG-1"}, Meta{Actor: "bob", Ticket: "CHG-1"}
	request := func(client, route string) etcdsync.Approval {
		t.Helper()
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: client, Route: route}, alice)
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}
	lowered, denied, withdrawn := request("acme-admin", route), request("acme-admin", route), request("acme-admin", route)
	forgedGrant, forgedDeny, reused := request("acme-hris", KeysCreateRoute), request("acme-hris", KeysCreateRoute), request("acme-admin", route)
	postdated := request("acme-admin", route)
	push(t, a, examplePolicy(t)) // the route cut to one use in an hour
	f := follow(t, a, 0)
	// The CLI's decisions: none flagged.
	for _, id := range []string{lowered.ID, withdrawn.ID, reused.ID} {
		if _, err := a.GrantApproval(ctx, id, "bob", "ok", bob); err != nil {
			t.Fatalf("grant of %s: %v", id, err)
		}
	}
	for _, id := range []string{denied.ID, withdrawn.ID} {
		if _, err := a.DenyApproval(ctx, id, "bob", "no", bob); err != nil {
			t.Fatalf("deny of %s: %v", id, err)
		}
	}
	// By hand, each with its decision's event in the same transaction.
	now := time.Now().UTC()
	grant := forgedGrant
	grant.Client, grant.Route, grant.MaxUses, grant.Uses, grant.MaxAge = "acme-admin", route, 1000, 1000, "24h0m0s"
	grant.State, grant.Approver, grant.Decided, grant.Expires = etcdsync.ApprovalGranted, "bob", now, now.Add(24*time.Hour)
	put1, _ := putJSON(a.k.Approval(grant.ID), grant)
	forge(t, a, etcdsync.ActionApprovalGrant, grant.ID, approvalDetails(grant), put1)
	deny := forgedDeny
	deny.Client, deny.State, deny.Approver, deny.Decided = "acme-admin", etcdsync.ApprovalDenied, "bob", now
	put2, _ := putJSON(a.k.Approval(deny.ID), deny)
	forge(t, a, etcdsync.ActionApprovalDeny, deny.ID, approvalDetails(deny), put2)
	resp, err := a.cli.Get(ctx, a.k.Approval(reused.ID))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading %s: %v", reused.ID, err)
	}
	var again etcdsync.Approval
	if err := json.Unmarshal(resp.Kvs[0].Value, &again); err != nil {
		t.Fatal(err)
	}
	again.Expires = again.Expires.Add(30 * 24 * time.Hour)
	put3, _ := putJSON(a.k.Approval(reused.ID), again, clientv3.WithIgnoreLease())
	forge(t, a, etcdsync.ActionApprovalUse, reused.ID, approvalDetails(again), put3)
	// A grant decided a month on: nothing but the decision's fields
	// changed, and it admits requests for an hour a month from now.
	later := postdated
	later.MaxUses, later.Uses, later.MaxAge = 1, 1, "1h0m0s"
	later.State, later.Approver, later.Decided = etcdsync.ApprovalGranted, "bob", now.Add(30*24*time.Hour)
	later.Expires = later.Decided.Add(time.Hour)
	put4, _ := putJSON(a.k.Approval(later.ID), later)
	rev := forge(t, a, etcdsync.ActionApprovalGrant, later.ID, approvalDetails(later), put4)

	want := []string{ActionApprovalWritten + " " + grant.ID, ActionApprovalWritten + " " + deny.ID, ActionApprovalWritten + " " + reused.ID, ActionApprovalWritten + " " + later.ID}
	if got := flaggedAt(t, f, rev); !slices.Equal(got, want) {
		t.Errorf("unattributed events = %v, want %v: a decision that rewrote the request's client, route, uses or age, or a rewrite under a use, is not flagged", got, want)
	}
}
