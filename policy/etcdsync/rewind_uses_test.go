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
	l, _ := runLedgerWith(t, c.cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a", Timeout: 2 * time.Second, Confirm: 100 * time.Millisecond,
		Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})

	use := func(id, req string) bool { return l.Consume([]byte(id), "c1", "POST /x", []byte(req), now) }
	if !use("apr_once", "r1") || !use("apr_thrice", "r2") || !use("apr_thrice", "r3") {
		t.Fatal("a use of a fresh grant refused")
	}
	waitFor(t, 10*time.Second, "the uses watched", func() bool { return l.WatchedUses("apr_once") == 2 && l.WatchedUses("apr_thrice") == 3 })
	rev := c.climb(40)
	time.Sleep(500 * time.Millisecond) // 5 checks at the climbed revision

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
	waitFor(t, 10*time.Second, "the rewind followed", func() bool { return l.Rewinds() == 1 && l.WatchedUses("apr_once") == 1 })
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
