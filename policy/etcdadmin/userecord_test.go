package etcdadmin

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The CLI writes an approval.use with the put of the approval's counter
// only; the CLIs from before the counter rewrote the approval record. The
// follower flagged such a rewrite approval.written_unattributed (no use
// speaks for a record), but verifyChange still took the record's put for
// the use's change, so the same transaction was stored as a verified use
// beside a flagged write of its record. A use event with its record put
// in its transaction, with or without the counter's put, is now itself
// unverified, as is one with no counter put.
func TestFollowFlagsAUseThatRewroteItsRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	_, ap := twoUseGrant(t, ctx, a)
	// rewrite returns the put of ap's record with one use more, as the
	// CLIs before the counter wrote it.
	rewrite := func() clientv3.Op {
		t.Helper()
		rec, _, err := a.approval(ctx, ap.ID)
		if err != nil {
			t.Fatal(err)
		}
		rec.Uses++
		put, err := putJSON(k.Approval(ap.ID), rec, clientv3.WithIgnoreLease())
		if err != nil {
			t.Fatal(err)
		}
		return put
	}
	// The counter's put as the CLI writes it, and the record's rewrite
	// (which leaves the counter no longer the grant's: first).
	rec, rev, err := a.approval(ctx, ap.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, k.ApprovalCounter(ap.ID), clientv3.WithKeysOnly())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("counter: %v %v", resp, err)
	}
	c := etcdsync.CounterOf(resp.Kvs[0])
	rec.Count(rev, c)
	_, counterPut, err := etcdsync.UseWrite(k, &rec, rev, c, etcdsync.ApprovalUse{Client: ap.Client, Route: ap.Route})
	if err != nil {
		t.Fatal(err)
	}
	both := forge(t, a, etcdsync.ActionApprovalUse, ap.ID, approvalDetails(ap), counterPut, rewrite())
	// An older CLI's use: the event and the record's rewrite.
	older := forge(t, a, etcdsync.ActionApprovalUse, ap.ID, approvalDetails(ap), rewrite())

	f := follow(t, a, 0)
	f.waitAt(t, older)
	f.stop()
	type seen struct {
		action   string
		rev      int64
		verified bool
	}
	var got []seen
	for _, e := range f.events() {
		if e.Target == ap.ID && (e.Revision == older || e.Revision == both) && e.Key != k.ApprovalCounter(ap.ID) { // the counter's own use aside
			got = append(got, seen{e.Action, e.Revision, e.Unverified == ""})
			if e.Action == etcdsync.ActionApprovalUse && e.Unverified != "" && !strings.Contains(e.Unverified, "record") {
				t.Errorf("use at revision %d flagged %q, want the record's rewrite named", e.Revision, e.Unverified)
			}
		}
	}
	slices.SortStableFunc(got, func(x, y seen) int { return strings.Compare(x.action, y.action) })
	want := []seen{
		{etcdsync.ActionApprovalUse, both, false}, {etcdsync.ActionApprovalUse, older, false},
		{ActionApprovalWritten, both, false}, {ActionApprovalWritten, older, false},
	}
	if !slices.Equal(got, want) {
		t.Errorf("uses that rewrote their record: %+v, want %+v (the use flagged with its record's write)", got, want)
	}
}
