package etcdsync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Review (attack): the sidecar's etcd role may create any key under
// approval-uses/. Every sidecar's ledger keeps each well-formed counter
// key it watches, whether or not an approval record names it, and clones
// the whole map on every watch batch (apply): counters of no approval
// make every sidecar's memory, and the CPU of each approval event on it,
// grow with what one sidecar credential writes (a million junk keys of
// ~60 bytes are ~60 MB in etcd). The ledger should hold counters only
// of the approvals it holds.
func TestReviewLedgerTracksJunkCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a"})
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(lctx)
	deadline := time.Now().Add(20 * time.Second)
	for !l.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	const junk = 1000
	for b := 0; b < junk; b += 100 {
		ops := make([]clientv3.Op, 0, 100)
		for i := b; i < b+100; i++ {
			ops = append(ops, clientv3.OpPut(k.ApprovalCounter(fmt.Sprintf("junk-%d", i)), "x"))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// A marker the ledger must see after the junk: an unrelated counter
	// put last (it too names no approval).
	if _, err := cli.Put(ctx, k.ApprovalCounter("marker"), "x"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for l.TrackedCounters() < junk+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := l.TrackedCounters(); got != 0 {
		t.Errorf("ledger holds %d use counters with no approval record, want 0", got)
	}
}
