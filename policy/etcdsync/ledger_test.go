package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// The ledger fails closed: with a granted approval watched, a Consume
// while etcd is down refuses (the use cannot be counted), and so do ids
// that are malformed, unknown, or in the wrong state.
func TestLedgerFailsClosed(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	put := func(ap etcdsync.Approval) { putApproval(t, cli, k, ap) }
	granted := etcdsync.Approval{ID: "apr_ok", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 2, Expires: now.Add(time.Hour)}
	put(granted)
	pending := granted
	pending.ID, pending.State = "apr_pending", etcdsync.ApprovalPending
	put(pending)
	if _, err := cli.Put(context.Background(), k.Approval("apr_garbage"), "{not json"); err != nil {
		t.Fatal(err)
	}
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Timeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	for deadline := time.Now().Add(30 * time.Second); !l.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ledger never read the approvals")
		}
	}
	for _, c := range []struct {
		id, client, route string
		at                time.Time
		want              bool
	}{
		{"apr_ok", "c1", "POST /x", now, true},
		{"apr_ok", "c2", "POST /x", now, false},
		{"apr_ok", "c1", "POST /y", now, false},
		{"apr_ok", "c1", "POST /x", now.Add(2 * time.Hour), false},
		{"apr_pending", "c1", "POST /x", now, false},
		{"apr_garbage", "c1", "POST /x", now, false},
		{"apr_unknown", "c1", "POST /x", now, false},
		{"APR_OK", "c1", "POST /x", now, false},
		{"../policy", "c1", "POST /x", now, false},
		{"", "c1", "POST /x", now, false},
	} {
		if got := l.Consume([]byte(c.id), c.client, c.route, nil, c.at); got != c.want {
			t.Errorf("Consume(%q, %q, %q) = %v, want %v", c.id, c.client, c.route, got, c.want)
		}
	}
	e.Close()
	if l.Consume([]byte("apr_ok"), "c1", "POST /x", nil, now) {
		t.Error("Consume with etcd down admitted the request; want refused (fail closed)")
	}
}

// A watched copy that refuses may be behind etcd (a grant the watch has
// not delivered yet): the ledger decides on the record in etcd instead.
func TestLedgerReadsPastALaggingWatch(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	ap := etcdsync.Approval{ID: "apr_lag", Client: "c1", Route: "POST /x", State: etcdsync.ApprovalPending, MaxUses: 1, Expires: now.Add(time.Hour)}
	put := func() { putApproval(t, cli, k, ap) }
	put()
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	for deadline := time.Now().Add(30 * time.Second); !l.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ledger never read the approvals")
		}
	}
	cancel() // the watch stops: the ledger keeps the pending copy
	<-done
	ap.State = etcdsync.ApprovalGranted
	put()
	if !l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Error("Consume of a grant the watch missed = false, want true (read from etcd)")
	}
	if l.Consume([]byte(ap.ID), "c1", "POST /x", nil, now) {
		t.Error("second Consume of a single-use approval = true, want false")
	}
}
