package etcdsync_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// BenchmarkLedgerConsume measures what a request to a route that requires
// an approval pays for it (issue 20): one Consume of a granted single-use
// approval the ledger has watched, which is one etcd transaction (compare
// the record's mod revision and that the use key is new, create the use
// key) against the real etcd server in process, over loopback gRPC. Routes
// without an approval pay nothing (BenchmarkDecide in dataplane).
func BenchmarkLedgerConsume(b *testing.B) {
	cli := dial(b, shared)
	prefix := newPrefix(b)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	ids := make([][]byte, b.N)
	var wg sync.WaitGroup
	for w := range 16 { // the grants, outside the timer
		wg.Go(func() {
			for i := w; i < b.N; i += 16 {
				id := fmt.Sprintf("apr_bench%08d", i)
				ids[i] = []byte(id)
				ap := etcdsync.Approval{ID: id, Client: "acme-admin", Route: "POST /v1/exports/full", State: etcdsync.ApprovalGranted,
					Requester: "alice", Approver: "bob", MaxUses: 1, MaxAge: "1h0m0s", Expires: now.Add(time.Hour)}
				putApproval(b, cli, k, ap)
			}
		})
	}
	wg.Wait()
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	for !l.Ready() {
		time.Sleep(time.Millisecond)
	}
	reqID := []byte("bench-request")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if !l.Consume(ids[i], "acme-admin", "POST /v1/exports/full", reqID, now) {
			b.Fatalf("Consume %s refused", ids[i])
		}
	}
}
