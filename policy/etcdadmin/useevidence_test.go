package etcdadmin

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestFollowEventsKeepsUsesOfADeletedCounter: a sidecar's etcd role may
// delete approval-uses/<id> (readwrite on the prefix; revoking the uses
// lease, which holds only the counter, does the same). A sidecar that
// spends every use of a grant while the collector's follower is down
// (restart, lost watch) and then deletes the counter must not hide those
// uses: the follower's catch-up watches etcd's history from its resume
// revision, which holds the counter's puts, so both uses reach fn, and the
// deletion before the uses lease's end is a flagged
// approval.counter_delete event. (ListEvents reads the counters that
// exist now: the collector's store is the record, as README says.)
func TestFollowEventsKeepsUsesOfADeletedCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	route, ap := twoUseGrant(t, ctx, a)
	// The collector stored everything up to here, then went down.
	st, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	stored := st.Header.Revision

	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-evil"})
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(lctx)
	waitFor(t, 20*time.Second, "the ledger", l.Ready)
	for i, id := range []string{"req-1", "req-2"} {
		if !l.Consume([]byte(ap.ID), "acme-admin", route, []byte(id), time.Now()) {
			t.Fatalf("use %d refused", i+1)
		}
	}
	k := etcdsync.NewLayout(prefix)
	if _, err := cli.Delete(ctx, k.ApprovalCounter(ap.ID)); err != nil { // within the sidecar role
		t.Fatal(err)
	}
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, meta); err != nil { // a marker after the hiding
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []Event
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.FollowEvents(fctx, stored, func(evs []Event) error {
			mu.Lock()
			got = append(got, evs...)
			mu.Unlock()
			return nil
		})
	}()
	waitFor(t, 20*time.Second, "the marker key.create", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			if e.Action == ActionKeyCreate {
				return true
			}
		}
		return false
	})
	stop()
	<-done
	uses, deletions := 0, 0
	for _, e := range got {
		switch {
		case e.Action == etcdsync.ActionApprovalUse && e.Target == ap.ID:
			uses++
		case e.Action == ActionCounterDelete && e.Target == ap.ID:
			deletions++
			if e.Unverified == "" {
				t.Errorf("the counter's deletion before its lease's end is not flagged: %+v", e)
			}
		}
	}
	if uses != 2 {
		t.Errorf("follower resumed at %d after two uses and the counter's deletion: %d approval.use events, want 2 (uses hidden from the evidence)", stored, uses)
	}
	if deletions != 1 {
		t.Errorf("follower saw %d approval.counter_delete events of %s, want 1", deletions, ap.ID)
	}
}

// TestConcurrentGrantKeepsTheWinnersCounter: two approvers granting one
// pending request at once both read it pending; the first commits. The
// second's clearing of a leftover counter is conditional on the record it
// read, so it must not delete the counter the first grant just created
// (the grant would stand used up before its first use, and a use spent in
// between would be taken out of etcd's keys). The second approver's late
// step is replayed here with the pending record both read.
func TestConcurrentGrantKeepsTheWinnersCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	push(t, a, examplePolicy(t))
	const route = "POST /v1/exports/full"
	req, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export"})
	if err != nil {
		t.Fatal(err)
	}
	pending, rev, err := a.approval(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, req.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	st, _, err := a.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.grantAt(ctx, pending, rev, st.PolicyRevision, "carol", "ok too", Meta{Actor: "carol"}); ok || err != nil {
		t.Fatalf("second grant from the stale read: ok %v err %v, want lost race", ok, err)
	}
	shown, err := a.ShowApproval(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if shown.Uses != 0 {
		t.Errorf("granted approval after a concurrent second grant: uses %d/%d, want 0 (its counter deleted by the loser)", shown.Uses, shown.MaxUses)
	}
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a"})
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(lctx)
	waitFor(t, 20*time.Second, "the ledger", l.Ready)
	if !l.Consume([]byte(req.ID), "acme-admin", route, []byte("req-1"), time.Now()) {
		t.Error("first use of the granted approval refused")
	}
}

// TestFollowEventsCompactedHistoryIsFlagged: when etcd has compacted the
// history after the resume revision, the follower cannot replay it: it
// reads the keys as they are (the events under events/ and the counters
// that exist) and adds a flagged events.gap event saying that uses of
// counters deleted since may be missing, then follows on.
func TestFollowEventsCompactedHistoryIsFlagged(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir()) // its own server: the test compacts it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx := context.Background()
	cli := dial(t, e)
	a := New(cli, newPrefix(t))
	push(t, a, examplePolicy(t))
	if _, _, err := a.CreateKey(ctx, "acme-admin", 0, meta); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Event
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.FollowEvents(fctx, 1, func(evs []Event) error {
			mu.Lock()
			got = append(got, evs...)
			mu.Unlock()
			return nil
		})
	}()
	has := func(action string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			if e.Action == action {
				return true
			}
		}
		return false
	}
	waitFor(t, 20*time.Second, "the events.gap event", func() bool { return has(ActionEventsGap) })
	if !has(ActionKeyCreate) || !has(ActionPolicyPush) {
		t.Errorf("catch-up over compacted history: %+v, want the stored policy.push and key.create", got)
	}
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second key.create after the gap", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range got {
			if e.Action == ActionKeyCreate {
				n++
			}
		}
		return n == 2
	})
	stop()
	<-done
	for _, e := range got {
		if e.Action == ActionEventsGap && e.Unverified == "" {
			t.Errorf("events.gap not flagged: %+v", e)
		}
	}
}
