package etcdsync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestLedgerDropsCountersOfNoApproval: the sidecar's etcd role may create
// any key under approval-uses/. A ledger that kept each well-formed
// counter key it watches, whether or not an approval record names it (and
// cloned the whole map on every watch batch), would let one sidecar
// credential grow every sidecar's memory and the CPU of each approval
// event. The ledger holds counters only of the approvals it holds: after
// 1000 junk counters and a marker approval (record and counter in one
// transaction, as a grant writes them), it holds the marker's counter only.
func TestLedgerDropsCountersOfNoApproval(t *testing.T) {
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
	// A marker approval the ledger must see after the junk: its record
	// and counter put in one transaction.
	if _, err := cli.Txn(ctx).Then(clientv3.OpPut(k.Approval("marker"), "{}"), clientv3.OpPut(k.ApprovalCounter("marker"), "x")).Commit(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for !l.Tracks("marker") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !l.Tracks("marker") {
		t.Fatal("the ledger never saw the marker approval")
	}
	if got := l.TrackedCounters(); got != 1 {
		t.Errorf("ledger holds %d use counters after %d junk ones and the marker approval's, want 1 (the marker's)", got, junk)
	}
}
