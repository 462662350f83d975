package etcdsync_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestLedgerAppliesWaitingResponsesInOneCopy: the ledger copied its whole
// state for every watch response of approvals, so whoever may write
// approvals/ and puts N records one transaction at a time made each
// sidecar copy O(N²) entries. Responses that arrive while an apply holds
// the state now wait and are applied in one copy, at most MaxTaken at
// once: N puts received while the ledger is held cost a copy for the one
// taken before and one per MaxTaken after, each of at most 2N entries.
func TestLedgerAppliesWaitingResponsesInOneCopy(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(30 * time.Second); !l.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ledger never read the approvals")
		}
	}
	const n = 300
	release := l.HoldState()
	held := true
	defer func() {
		if held {
			release()
		}
	}()
	expires := time.Now().Add(time.Hour)
	for i := range n {
		putApproval(t, cli, k, etcdsync.Approval{ID: fmt.Sprintf("apr_%d", i), Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1, Expires: expires})
	}
	// Not an assertion: the responses reach the ledger while it is held.
	for deadline := time.Now().Add(20 * time.Second); l.Queued() < n && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	t.Logf("%d of %d responses received while held", l.Queued(), n)
	held = false
	release()
	last := fmt.Sprintf("apr_%d", n-1)
	for deadline := time.Now().Add(30 * time.Second); !l.Tracks(last) || l.TrackedCounters() != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ledger holds %d counters and approval %s %v, want %d and true", l.TrackedCounters(), last, l.Tracks(last), n)
		}
	}
	clones, entries := l.Copies()
	t.Logf("%d puts applied in %d copies of %d entries", n, clones, entries)
	most := int64(1 + (n+etcdsync.MaxTaken-1)/etcdsync.MaxTaken)
	if clones > most || entries > most*2*n {
		t.Errorf("%d puts applied in %d copies of %d entries, want at most %d copies of at most %d entries", n, clones, entries, most, most*2*n)
	}
}

// TestLedgerPutStreamCopiesLittleOfTheState: approvals put one at a time,
// each applied before the next, on a ledger holding many. Each apply
// copied the whole state (every record and counter) to change two
// entries: about 2,000 entries an approval with 1,000 held
// (BenchmarkLedgerPutStream). The state keeps its changes in a small
// layer over a shared base, folded in now and then: an apply copies a
// small share of the state.
func TestLedgerPutStreamCopiesLittleOfTheState(t *testing.T) {
	t.Parallel()
	const held, stream = 500, 60
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	expires := time.Now().Add(time.Hour)
	for i := range held {
		putApproval(t, cli, k, etcdsync.Approval{ID: fmt.Sprintf("apr_%d", i), Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1, Expires: expires})
	}
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(30 * time.Second); !l.Ready() || l.TrackedCounters() != held; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ledger never read the approvals")
		}
	}
	_, before := l.Copies()
	for i := range stream {
		id := fmt.Sprintf("apr_s%d", i)
		putApproval(t, cli, k, etcdsync.Approval{ID: id, Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1, Expires: expires})
		for deadline := time.Now().Add(30 * time.Second); !l.Tracks(id); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("ledger never held %s", id)
			}
		}
	}
	_, after := l.Copies()
	if per, most := (after-before)/stream, int64(2*held/4); per > most {
		t.Errorf("%d entries copied per approval put, with %d held; want at most %d (a small share of the %d entries)", per, held, most, 2*held)
	}
	if l.TrackedCounters() != held+stream {
		t.Errorf("ledger holds %d counters, want %d", l.TrackedCounters(), held+stream)
	}
}

// BenchmarkLedgerPutBurst: the time the ledger takes to apply 2,000
// approvals put one transaction at a time that reached it while it was
// held (the puts, 16 at a time, and their arrival are outside the timer),
// and the state entries it copied doing so.
func BenchmarkLedgerPutBurst(b *testing.B) {
	const n = 2_000
	cli := dial(b, shared)
	expires := time.Now().Add(time.Hour)
	var copied int64
	for range b.N {
		b.StopTimer()
		prefix := newPrefix(b)
		k := etcdsync.NewLayout(prefix)
		l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx); close(done) }()
		for !l.Ready() {
			time.Sleep(time.Millisecond)
		}
		release := l.HoldState()
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < n; i += 16 {
					putApproval(b, cli, k, etcdsync.Approval{ID: fmt.Sprintf("apr_%d", i), Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1, Expires: expires})
				}
			})
		}
		wg.Wait()
		// The last put reaches this client's watches, the ledger's
		// among them (one stream), before the timer starts.
		last := putApproval(b, cli, k, etcdsync.Approval{ID: "apr_last", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1, Expires: expires})
		for w := range cli.Watch(clientv3.WithRequireLeader(ctx), k.Approval("apr_last"), clientv3.WithRev(last)) {
			if len(w.Events) > 0 || w.Err() != nil {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		b.StartTimer()
		release()
		for !l.Tracks("apr_last") || l.TrackedCounters() != n+1 {
			time.Sleep(100 * time.Microsecond)
		}
		b.StopTimer()
		_, entries := l.Copies()
		copied += entries
		cancel()
		<-done
	}
	b.ReportMetric(float64(copied)/float64(b.N), "entries-copied/op")
}

// BenchmarkLedgerPutStream: a steady stream of single approvals, each put
// and applied before the next (no response waits for another), on a
// ledger already holding 1,000: the time from a put to the ledger holding
// it, and the state entries each apply copies. Each response is applied
// alone; each put copied the whole state (2,299 entries, 351 KB and
// 1.5 ms a put measured at trail701's code), and copies the layer of
// changes over the shared state now (ledger_layers.go: 100 entries,
// 48 KB and 0.6 ms, trail802; TestLedgerPutStreamCopiesLittleOfTheState).
func BenchmarkLedgerPutStream(b *testing.B) {
	const held = 1_000
	cli := dial(b, shared)
	prefix := newPrefix(b)
	k := etcdsync.NewLayout(prefix)
	expires := time.Now().Add(time.Hour)
	for i := range held {
		putApproval(b, cli, k, etcdsync.Approval{ID: fmt.Sprintf("apr_%d", i), Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1, Expires: expires})
	}
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for !l.Ready() || l.TrackedCounters() != held {
		time.Sleep(time.Millisecond)
	}
	_, before := l.Copies()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("apr_s%d", i)
		putApproval(b, cli, k, etcdsync.Approval{ID: id, Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 1, Expires: expires})
		for !l.Tracks(id) {
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.StopTimer()
	_, after := l.Copies()
	b.ReportMetric(float64(after-before)/float64(b.N), "entries-copied/op")
}
