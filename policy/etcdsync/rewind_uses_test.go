package etcdsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLedgerKeepsUsesEtcdLost: etcd restored from a backup taken after a
// grant but before its uses gives the grant's counter its old version
// back, and so the uses spent since. The Ledger that watched them counts
// them as spent (a single-use approval for a bulk export admits nothing
// more), with one error line naming the approval; before, every sidecar
// admitted the spent uses again. A use the restored counter still has
// left is admitted, once.
func TestLedgerKeepsUsesEtcdLost(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	grant := func(id string, uses int) etcdsync.Approval {
		return etcdsync.Approval{ID: id, Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: uses, Expires: now.Add(time.Hour)}
	}
	putApproval(t, c.cli, k, grant("apr_once", 1))
	putApproval(t, c.cli, k, grant("apr_thrice", 3))
	c.snapshot()

	logs := &logBuffer{}
	lcli, checks := c.checkedClient()
	l, _ := runLedgerWith(t, lcli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a", Timeout: 2 * time.Second, Confirm: 100 * time.Millisecond,
		Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})

	use := func(id, req string) bool { return l.Consume([]byte(id), "c1", "POST /x", []byte(req), now) }
	if !use("apr_once", "r1") || !use("apr_thrice", "r2") || !use("apr_thrice", "r3") {
		t.Fatal("a use of a fresh grant refused")
	}
	waitFor(t, 10*time.Second, "the uses watched", func() bool { return l.WatchedUses("apr_once") == 2 && l.WatchedUses("apr_thrice") == 3 })
	rev := c.climb(40)
	checks.checkedPast(t, rev)

	rrev := c.restore(func(cli *clientv3.Client) int64 {
		resp, err := cli.Get(context.Background(), "/elsewhere")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	})
	if rrev >= rev {
		t.Fatalf("etcd did not go back: %d, had reached %d", rrev, rev)
	}
	waitFor(t, 30*time.Second, "the rewind followed", func() bool { return l.Rewinds() == 1 && l.WatchedUses("apr_once") == 1 })
	if use("apr_once", "r4") {
		t.Error("a single-use approval spent before the restore admitted a second use")
	}
	if !use("apr_thrice", "r5") {
		t.Error("the third use of a three-use approval, never spent, refused")
	}
	if use("apr_thrice", "r6") {
		t.Error("a three-use approval admitted a fourth use")
	}
	if !strings.Contains(logs.String(), `"approvals":["apr_once","apr_thrice"]`) {
		t.Errorf("no error line naming the approvals that lost uses:\n%s", logs)
	}
}

// TestLedgerKeepsUsesLostBeforeTheCheck: the uses etcd lost going back
// were counted as spent only once the ledger's check found etcd behind
// (every Confirm, 5 s) and read the approvals again; a request in
// between, the first after etcd came back from the restore, spent a
// single-use approval's use a second time: the counter read from etcd
// (its version behind the one watched) was taken as it was. Consume now
// counts the uses by which etcd's counter is behind the watched one as
// spent at once; a use the restored counter still has is admitted, once.
func TestLedgerKeepsUsesLostBeforeTheCheck(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	grant := func(id string, uses int) etcdsync.Approval {
		return etcdsync.Approval{ID: id, Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: uses, Expires: now.Add(time.Hour)}
	}
	putApproval(t, c.cli, k, grant("apr_once", 1))
	putApproval(t, c.cli, k, grant("apr_thrice", 3))
	c.snapshot()

	// No check within the test: the window between the restore and the
	// check finding it is the test's whole run.
	l := etcdsync.NewLedger(c.cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a", Timeout: 2 * time.Second, Confirm: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 30*time.Second, "ledger ready", l.Ready)

	use := func(id, req string) bool { return l.Consume([]byte(id), "c1", "POST /x", []byte(req), now) }
	if !use("apr_once", "r1") || !use("apr_thrice", "r2") || !use("apr_thrice", "r3") {
		t.Fatal("a use of a fresh grant refused")
	}
	waitFor(t, 10*time.Second, "the uses watched", func() bool { return l.WatchedUses("apr_once") == 2 && l.WatchedUses("apr_thrice") == 3 })
	c.climb(40)
	c.restore(func(cli *clientv3.Client) int64 { return 0 })
	// The ledger's client (c.cli) reconnects to the restarted etcd on
	// gRPC's backoff, which after the restore's seconds without etcd took
	// up to 1.75 s of Consume's 2 s (Timeout) here: a use refused for want
	// of etcd passes for the lost use refused, and the use that must be
	// admitted is refused. Wait until etcd answers on that client (a read
	// of the test's, not the ledger's check, which never runs here).
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err := c.cli.Get(rctx, "/elsewhere")
	rcancel()
	if err != nil {
		t.Fatalf("etcd restored does not answer: %v", err)
	}
	if use("apr_once", "r4") {
		t.Error("a single-use approval spent before the restore admitted a second use before the ledger's check")
	}
	if !use("apr_thrice", "r5") {
		t.Error("the third use of a three-use approval, never spent, refused")
	}
	if use("apr_thrice", "r6") {
		t.Error("a three-use approval admitted a fourth use")
	}
	if l.Rewinds() != 0 {
		t.Fatalf("the ledger's check ran (%d rewinds): the test proves nothing", l.Rewinds())
	}
}
