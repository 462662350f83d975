package etcdadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The collector's follower turns each put of a use counter by a sidecar's
// ledger into an approval.use event, in revision order among the other
// events, with the request id and sidecar (named as claims), the use
// number and the grant's requester, approver and ticket, no actor, and
// resumes after a revision without losing a use (the counter's history
// is read back). A use the grant does not allow (a number past max_uses)
// is followed too, flagged unverified. approvals show and list and
// ListEvents count the uses from the counter.
func TestFollowEventsApprovalUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	route, ap := twoUseGrant(t, ctx, a)
	if ap.MaxUses != 2 || ap.UsesLease == 0 {
		t.Fatalf("granted %+v, want 2 uses and a uses lease", ap)
	}
	var mu sync.Mutex
	var got []Event
	follow := func(from int64) (stop func() error) {
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- a.FollowEvents(fctx, from, func(evs []Event) error {
				mu.Lock()
				got = append(got, evs...)
				mu.Unlock()
				return nil
			})
		}()
		return func() error { cancel(); return <-done }
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	stop := follow(0)
	waitFor(t, 20*time.Second, "push, request and grant", func() bool { return count() == 3 })

	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a"})
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(lctx)
	waitFor(t, 20*time.Second, "the ledger", l.Ready)
	if !l.Consume([]byte(ap.ID), "acme-admin", route, []byte("req-1"), time.Now()) {
		t.Fatal("first use refused")
	}
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, meta); err != nil {
		t.Fatal(err)
	}
	if !l.Consume([]byte(ap.ID), "acme-admin", route, []byte("req-2"), time.Now()) {
		t.Fatal("second use refused")
	}
	if l.Consume([]byte(ap.ID), "acme-admin", route, []byte("req-3"), time.Now()) {
		t.Error("third use of a 2-use approval admitted")
	}
	k := etcdsync.NewLayout(prefix)
	if _, err := cli.Put(ctx, k.ApprovalCounter(ap.ID), `{"client":"acme-admin","route":"POST /v1/exports/full","time":"2030-01-01T00:00:00Z"}`, clientv3.WithIgnoreLease()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the uses, the key and the forged use", func() bool { return count() == 7 })
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("FollowEvents after cancel = %v", err)
	}
	var actions []string
	for i, e := range got {
		actions = append(actions, e.Action)
		if i > 0 && e.Revision <= got[i-1].Revision {
			t.Errorf("event %d at revision %d, not after %d", i, e.Revision, got[i-1].Revision)
		}
	}
	if got, want := strings.Join(actions, " "), "policy.push approval.request approval.grant approval.use key.create approval.use approval.use"; got != want {
		t.Fatalf("actions = %s, want %s", got, want)
	}
	use := got[3]
	d := use.Details
	if use.Target != ap.ID || use.Actor != "" || use.Ticket != "CHG-9" || use.Reason != "export" || use.Unverified != "" || use.Key != k.ApprovalCounter(ap.ID) || d[DetailClaimed] == "" || d[DetailEtcdUser] != "" ||
		d["request_id"] != "req-1" || d["sidecar"] != "pod-a" || d["use"] != "1/2" || d["requester"] != "alice" || d["approver"] != "bob" || d["client"] != "acme-admin" || d["route"] != route {
		t.Errorf("first use event = %+v, want verified with the request, sidecar, use 1/2 and the grant's people and ticket", use)
	}
	if got[5].Details["request_id"] != "req-2" || got[5].Unverified != "" {
		t.Errorf("second use event = %+v, want req-2, verified", got[5])
	}
	if !strings.Contains(got[6].Unverified, "use number 3") {
		t.Errorf("forged use 3 of a 2-use approval: unverified %q, want it flagged", got[6].Unverified)
	}

	resume := got[4].Revision
	got = nil
	stop = follow(resume)
	waitFor(t, 20*time.Second, "the events after the resume point", func() bool { return count() == 2 })
	stop()
	if got[0].Details["request_id"] != "req-2" || !strings.Contains(got[1].Unverified, "use number 3") {
		t.Errorf("resumed at %d: %+v, want use 2 and the forged use 3", resume, got)
	}

	shown, err := a.ShowApproval(ctx, ap.ID)
	if err != nil || shown.Uses != 2 || shown.LastUse.IsZero() {
		t.Errorf("ShowApproval = %d uses, last %v, %v; want 2 (the forged third not counted) and a last use", shown.Uses, shown.LastUse, err)
	}
	list, err := a.ListApprovals(ctx)
	if err != nil || len(list) != 1 || list[0].Uses != 2 {
		t.Errorf("ListApprovals = %+v, %v; want the approval with 2 uses", list, err)
	}
	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	uses := 0
	for _, e := range evs {
		if e.Action == etcdsync.ActionApprovalUse {
			uses++
		}
	}
	if uses != 3 {
		t.Errorf("ListEvents: %d approval.use events, want 3 (two uses and the forged one)", uses)
	}
}

// A use the CLI spends (RequireApproval) is its approval.use event under
// the etcd user's events-by/ directory (events/ with none), written with
// the counter's put: the follower records that one,
// verified, with the operator's actor and etcd user, and not the counter's
// version too. A counter put by anyone else that names the same event and
// claims the operator's actor is no such pair: it is recorded with no
// actor and flagged.
func TestFollowEventsCLIUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := authEtcd(t) // a directory binds its user only under etcd authentication (authstatus.go)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	route, ap := twoUseGrant(t, ctx, a)
	if err := a.RequireApproval(ctx, ap.ID, "acme-admin", route, Meta{Actor: "carol", EtcdUser: "ops-carol"}); err != nil {
		t.Fatalf("RequireApproval: %v", err)
	}
	cur, err := cli.Get(ctx, k.ApprovalCounter(ap.ID))
	if err != nil || len(cur.Kvs) != 1 || cur.Kvs[0].Version != 2 {
		t.Fatalf("counter after the CLI's use: %v %v, want version 2", cur, err)
	}
	u, err := etcdsync.DecodeApprovalUse(cur.Kvs[0].Value)
	if err != nil || !strings.HasPrefix(u.Event, k.EventsBy("ops-carol")) {
		t.Fatalf("CLI use record %+v %v, want it to name its event", u, err)
	}
	u.Time = time.Now()
	forged, _ := json.Marshal(u)
	if _, err := cli.Put(ctx, k.ApprovalCounter(ap.ID), string(forged), clientv3.WithIgnoreLease()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Event
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	onSinceStart := Witnesses{Auth: authOnSinceStart(t, a)} // authEtcd's
	go a.FollowEventsAfter(fctx, 0, onSinceStart, nil, func(evs []Event) error { mu.Lock(); got = append(got, evs...); mu.Unlock(); return nil })
	waitFor(t, 20*time.Second, "push, request, grant and two uses", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 5 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 5 {
		t.Fatalf("%d events, want 5: %+v", len(got), got)
	}
	cliUse, other := got[3], got[4]
	if cliUse.Action != etcdsync.ActionApprovalUse || cliUse.Actor != "carol" || cliUse.Details[DetailEtcdUser] != "ops-carol" || cliUse.Unverified != "" ||
		!strings.HasPrefix(cliUse.Key, k.EventsBy("ops-carol")) || cliUse.Details["use"] != "1/2" {
		t.Errorf("CLI use = %+v, want the verified event under events-by/ops-carol/ by carol as ops-carol, use 1/2", cliUse)
	}
	if other.Action != etcdsync.ActionApprovalUse || other.Actor != "" || other.Details[DetailEtcdUser] != "" || !strings.Contains(other.Unverified, "claims CLI actor") {
		t.Errorf("counter put naming the CLI's event = %+v, want no actor or etcd user, flagged", other)
	}
}

// twoUseGrant pushes the example policy with the export route's approval
// allowing two uses, and has alice request and bob grant one for
// acme-admin; it returns the route and the granted approval.
func twoUseGrant(t *testing.T, ctx context.Context, a *Admin) (string, etcdsync.Approval) {
	t.Helper()
	push(t, a, bytes.Replace(examplePolicy(t), []byte("max_uses: 1, max_age: 1h"), []byte("max_uses: 2, max_age: 1h"), 1))
	const route = "POST /v1/exports/full"
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export", Ticket: "CHG-9"})
	if err != nil {
		t.Fatal(err)
	}
	if ap, err = a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	return route, ap
}
