package etcdadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A grant takes its limits from the policy in force when it is granted,
// not only from the pending request: the request's max_uses and max_age
// were the policy's when it was asked, or anything written to the record
// in etcd since. Before, a request made while the route allowed 50 uses
// for 7 days was granted with them after the policy had cut the route to
// one use in an hour (for an incident), a pending record rewritten to a
// million uses and ten years was granted so (it is now refused whole, as
// any pending record written again), and a request for a route
// the policy no longer holds, or no longer asks an approval for, was
// granted too. A grant now has the smaller of the request's and the
// policy's limits, and a route the policy no longer gates is refused.
func TestGrantTakesThePolicysLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	const route = "POST /v1/exports/full"
	loose := bytes.Replace(examplePolicy(t), []byte("approval: {required: true, max_uses: 1, max_age: 1h}"),
		[]byte("approval: {required: true, max_uses: 50, max_age: 168h}"), 1)
	push(t, a, loose)
	alice := Meta{Actor: "alice", Reason: "export", Ticket: "CHG-1"}
	request := func() etcdsync.Approval {
		t.Helper()
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, alice)
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}
	early, rewritten := request(), request()
	if early.MaxUses != 50 {
		t.Fatalf("requested under the loose policy: %d uses, want 50", early.MaxUses)
	}
	// The record rewritten in etcd: a million uses for ten years.
	rewritten.MaxUses, rewritten.Uses, rewritten.MaxAge = 1000000, 1000000, "87600h0m0s"
	rec, err := json.Marshal(rewritten)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, etcdsync.NewLayout(prefix).Approval(rewritten.ID), string(rec)); err != nil {
		t.Fatal(err)
	}
	push(t, a, examplePolicy(t)) // the route cut to one use in an hour
	// A record rewritten since its request is refused whole
	// (TestGrantRefusesARewrittenRequest).
	if _, err := a.GrantApproval(ctx, rewritten.ID, "bob", "ok", Meta{Actor: "bob"}); !errors.Is(err, ErrRewritten) {
		t.Errorf("grant of the rewritten %s: %v, want ErrRewritten", rewritten.ID, err)
	}
	for _, ap := range []etcdsync.Approval{early} {
		got, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"})
		if err != nil {
			t.Fatalf("grant of %s: %v", ap.ID, err)
		}
		if got.MaxUses != 1 || got.MaxAge != "1h0m0s" || got.Expires.Sub(got.Decided) != time.Hour {
			t.Errorf("grant of %s: %d uses, max_age %s, expires %s after the grant; want the policy's 1 use in 1h0m0s",
				ap.ID, got.MaxUses, got.MaxAge, got.Expires.Sub(got.Decided))
		}
		kv, err := cli.Get(ctx, etcdsync.NewLayout(prefix).Approval(ap.ID))
		if err != nil || len(kv.Kvs) != 1 {
			t.Fatalf("grant of %s: record %v, %v", ap.ID, kv, err)
		}
		if ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(kv.Kvs[0].Lease)); err != nil || ttl.GrantedTTL > 3600 {
			t.Errorf("grant of %s: lease of %d s (%v), want at most an hour", ap.ID, ttl.GrantedTTL, err)
		}
	}
	// The route no longer asks for an approval: nothing to grant.
	pending := request()
	pushApproved(t, a, bytes.Replace(examplePolicy(t), []byte("approval: {required: true, max_uses: 1, max_age: 1h}"), []byte("approval: {required: false}"), 1))
	_, err = a.GrantApproval(ctx, pending.ID, "bob", "ok", Meta{Actor: "bob"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), route) {
		t.Errorf("grant for a route that no longer requires an approval = %v, want ErrNotFound naming %q", err, route)
	}
	if got, err := a.ShowApproval(ctx, pending.ID); err != nil || got.State != etcdsync.ApprovalPending {
		t.Errorf("after the refused grant: %q, %v; want pending", got.State, err)
	}
}
