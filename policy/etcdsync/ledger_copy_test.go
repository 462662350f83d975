package etcdsync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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
	most := int64(1 + (n+etcdsync.MaxTaken-1)/etcdsync.MaxTaken)
	if clones > most || entries > most*2*n {
		t.Errorf("%d puts applied in %d copies of %d entries, want at most %d copies of at most %d entries", n, clones, entries, most, most*2*n)
	}
}
