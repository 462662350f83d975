package etcdadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// An operator who can write etcd can skip the CLI and grant their own
// request by writing the record "granted" (naming anyone as approver)
// with its counter, and no approval.grant event. The sidecars honour
// such a record (they read no events); the trail must not: each use of
// it is an approval.use event checked against the grant, and a grant
// record written without its approval.grant event in the same
// transaction is not a grant the CLI made. Before, such uses were stored
// verified, as a second person's grant's are.
func TestUseOfAGrantWrittenWithoutItsEventIsFlagged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	route, real := twoUseGrant(t, ctx, a) // alice asks, bob grants through the CLI

	// alice asks again, and grants it herself by writing etcd directly.
	forged, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export", Ticket: "CHG-9"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	forged.State, forged.Approver, forged.Note, forged.Decided, forged.Expires = etcdsync.ApprovalGranted, "bob", "ok", now, now.Add(time.Hour)
	rec, _ := json.Marshal(forged)
	counter, _ := json.Marshal(etcdsync.ApprovalUse{})
	if _, err := cli.Txn(ctx).Then(clientv3.OpPut(k.Approval(forged.ID), string(rec)), clientv3.OpPut(k.ApprovalCounter(forged.ID), string(counter))).Commit(); err != nil {
		t.Fatal(err)
	}

	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a"})
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(lctx)
	waitFor(t, 20*time.Second, "the ledger", l.Ready)
	for _, id := range []string{real.ID, forged.ID} {
		if !l.Consume([]byte(id), "acme-admin", route, []byte("req-"+id), time.Now()) {
			t.Fatalf("use of %s refused", id)
		}
	}

	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	flagged := map[string]string{}
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Action == etcdsync.ActionApprovalUse {
			seen[e.Target], flagged[e.Target] = true, e.Unverified
		}
	}
	if !seen[real.ID] || !seen[forged.ID] {
		t.Fatalf("use events: %v, want one for each approval", seen)
	}
	if flagged[real.ID] != "" {
		t.Errorf("the use of a CLI grant is flagged: %s", flagged[real.ID])
	}
	if !strings.Contains(flagged[forged.ID], "approval.grant event") {
		t.Errorf("the use of a grant written without its approval.grant event is flagged %q, want it named", flagged[forged.ID])
	}
}

// The same forged grant spent by the CLI (keys create --approval), whose
// use is its own approval.use event under events/ (events-by/<user>/ when
// written as an etcd user), is flagged as the
// collector's follower stores it.
func TestCLIUseOfAGrantWrittenWithoutItsEventIsFlagged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, bytes.Replace(lifecyclePolicy(t), []byte("  require_ticket: true"), []byte("  require_ticket: true\n  privileged_key_approval: true"), 1))
	alice := Meta{Actor: "alice", Reason: "export job key", Ticket: "CHG-31"}
	forged, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	forged.State, forged.Approver, forged.Decided, forged.Expires = etcdsync.ApprovalGranted, "bob", now, now.Add(time.Hour)
	rec, _ := json.Marshal(forged)
	counter, _ := json.Marshal(etcdsync.ApprovalUse{})
	if _, err := cli.Txn(ctx).Then(clientv3.OpPut(k.Approval(forged.ID), string(rec)), clientv3.OpPut(k.ApprovalCounter(forged.ID), string(counter))).Commit(); err != nil {
		t.Fatal(err)
	}
	m := alice
	m.Approval = forged.ID
	if _, _, err := a.CreateKey(ctx, "acme-admin", 0, m); err != nil {
		t.Fatalf("keys create with the forged grant: %v", err)
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	var use *Event
	go a.FollowEvents(fctx, 0, func(evs []Event) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range evs {
			if evs[i].Action == etcdsync.ActionApprovalUse && evs[i].Target == forged.ID {
				use = &evs[i]
			}
		}
		return nil
	})
	waitFor(t, 20*time.Second, "the approval.use event", func() bool { mu.Lock(); defer mu.Unlock(); return use != nil })
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(use.Unverified, "approval.grant event") {
		t.Errorf("the CLI's use of a grant written without its approval.grant event is flagged %q, want it named", use.Unverified)
	}
}

// A second person's grant for one route, spent by hand on another: an
// operator writing etcd directly puts the grant's counter with an
// approval.use event that names a policy push of their own document as
// its route. The counter and the grant are real, so the use was stored
// verified, and the pack took the push for approved (evidence
// weakeningPushes). The use's route and client are checked against the
// grant's.
func TestCLIUseNamingAnotherRouteThanItsGrantIsFlagged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	_, real := twoUseGrant(t, ctx, a) // alice asks for an export, bob grants it
	pushRoute := PolicyPushRoute(strings.Repeat("ab", 32))
	ap, rev, err := a.approval(ctx, real.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, k.ApprovalCounter(real.ID), clientv3.WithKeysOnly())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("counter: %v %v", resp, err)
	}
	c := etcdsync.CounterOf(resp.Kvs[0])
	ap.Count(rev, c)
	d := approvalDetails(ap)
	d["client"], d["route"], d["use"] = "", pushRoute, "1/2"
	now := time.Now().UTC()
	ev, err := a.eventOp(now, etcdsync.ActionApprovalUse, real.ID, Meta{Actor: "mallory"}, d)
	if err != nil {
		t.Fatal(err)
	}
	cmps, put, err := etcdsync.UseWrite(k, &ap, rev, c, etcdsync.ApprovalUse{Route: pushRoute, Actor: "mallory", Event: string(ev.KeyBytes()), Time: now})
	if err != nil {
		t.Fatal(err)
	}
	if tx, err := cli.Txn(ctx).If(cmps...).Then(put, ev).Commit(); err != nil || !tx.Succeeded {
		t.Fatalf("hand-written use: %v", err)
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	var use *Event
	go a.FollowEvents(fctx, 0, func(evs []Event) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range evs {
			if evs[i].Action == etcdsync.ActionApprovalUse && evs[i].Target == real.ID {
				use = &evs[i]
			}
		}
		return nil
	})
	waitFor(t, 20*time.Second, "the approval.use event", func() bool { mu.Lock(); defer mu.Unlock(); return use != nil })
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(use.Unverified, "POST /v1/exports/full") {
		t.Errorf("a use naming route %q of a grant for %q is flagged %q, want the grant's route named", pushRoute, "POST /v1/exports/full", use.Unverified)
	}
}
