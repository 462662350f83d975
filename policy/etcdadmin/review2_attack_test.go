package etcdadmin

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Review (attack): a sidecar's etcd role may delete approval-uses/<id>
// (readwrite on the prefix; revoking the uses lease, which holds only the
// counter, does the same). A sidecar that spends every use of a grant
// while the collector's follower is down (restart, lost watch) and then
// deletes the counter hides those uses: the follower's catch-up reads
// only the keys that exist now (Get WithMinModRev), so a deleted
// counter's versions are never read back from history, and ListEvents
// reads the counters that exist. Both should still report the two uses.
func TestReviewSidecarHidesUsesByDeletingCounter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	push(t, a, bytes.Replace(examplePolicy(t), []byte("max_uses: 1, max_age: 1h"), []byte("max_uses: 2, max_age: 1h"), 1))
	const route = "POST /v1/exports/full"
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export", Ticket: "CHG-9"})
	if err != nil {
		t.Fatal(err)
	}
	if ap, err = a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
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
	uses := 0
	for _, e := range got {
		if e.Action == etcdsync.ActionApprovalUse {
			uses++
		}
	}
	if uses != 2 {
		t.Errorf("follower resumed at %d after two uses and the counter's deletion: %d approval.use events, want 2 (uses hidden from the evidence)", stored, uses)
	}

	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, e := range evs {
		if e.Action == etcdsync.ActionApprovalUse && e.Target == ap.ID {
			listed++
		}
	}
	if listed != 2 {
		t.Errorf("ListEvents after the counter's deletion: %d approval.use events of %s, want 2", listed, ap.ID)
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
	if _, ok, err := a.grantAt(ctx, pending, rev, "carol", "ok too", Meta{Actor: "carol"}); ok || err != nil {
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
