package etcdadmin

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A pending request is what its approval.request event says: who asked,
// as which etcd user, for which client and route. The operator's etcd
// role can rewrite the record before the grant, and the grant granted
// whatever it found: the requester swapped the client between the
// approver's approvals show and grant (the pack's row kept the request
// event's client), or named someone else as requester and granted it
// herself, the CLI's own approval.grant event making it look like a
// second person's grant. A record written again after its request is
// refused: no command of the CLI rewrites a pending record.
func TestGrantRefusesARewrittenRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	push(t, a, examplePolicy(t))
	const route = "POST /v1/exports/full"
	alice := Meta{Actor: "alice", Reason: "export", Ticket: "CHG-56", EtcdUser: "ops-alice"}
	rewrite := func(id string, edit func(*etcdsync.Approval)) {
		t.Helper()
		ap, _, err := a.approval(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		edit(&ap)
		rec, err := json.Marshal(ap)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, etcdsync.NewLayout(prefix).Approval(id), string(rec)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		edit    func(*etcdsync.Approval)
		granter string
		meta    Meta
	}{
		{"client swapped after the approver read it", func(ap *etcdsync.Approval) { ap.Client = "acme-admin" }, "bob", Meta{Actor: "bob", EtcdUser: "ops-bob"}},
		{"requester renamed, granted by the requester", func(ap *etcdsync.Approval) { ap.Requester, ap.RequesterEtcdUser = "carol", "" }, "alice", alice},
	}
	for _, c := range cases {
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "globex-bi", Route: route}, alice)
		if err != nil {
			t.Fatal(err)
		}
		rewrite(ap.ID, c.edit)
		got, err := a.GrantApproval(ctx, ap.ID, c.granter, "ok", c.meta)
		if !errors.Is(err, ErrRewritten) {
			t.Errorf("%s: %v: granted for client %s, requester %q, by %s; want ErrRewritten", c.name, err, got.Client, got.Requester, c.granter)
		}
		if shown, err := a.ShowApproval(ctx, ap.ID); err != nil || shown.State != etcdsync.ApprovalPending {
			t.Errorf("%s: after the grant: %q, %v; want still pending", c.name, shown.State, err)
		}
	}
	// The request as written is granted by a second person.
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "globex-bi", Route: route}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob", EtcdUser: "ops-bob"}); err != nil {
		t.Errorf("grant of a request as written: %v", err)
	}
}
