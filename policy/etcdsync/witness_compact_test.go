package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestHistoryHoldsPastACompaction: a witness etcd compacted past is read
// as its key is now, on a real etcd. It used to be Untold, always.
func TestHistoryHoldsPastACompaction(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	ctx := context.Background()
	put := func(k string) int64 {
		resp, err := c.cli.Put(ctx, k, "v")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	unchanged := put("/w/unchanged")
	rewritten := put("/w/rewritten")
	put("/w/rewritten")
	deleted := put("/w/deleted")
	if _, err := c.cli.Delete(ctx, "/w/deleted"); err != nil {
		t.Fatal(err)
	}
	older := put("/w/older")
	forkedAt := c.climb(3) // /w/older was never written there
	held := put("/w/held")
	if _, err := c.cli.Compact(ctx, c.climb(3)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		w    etcdsync.Witness
		want etcdsync.Holding
	}{
		{etcdsync.Witness{Key: "/w/unchanged", Revision: unchanged}, etcdsync.Held},
		{etcdsync.Witness{Key: "/w/held", Revision: held}, etcdsync.Held},
		{etcdsync.Witness{Key: "/w/older", Revision: forkedAt}, etcdsync.NotHeld},
		{etcdsync.Witness{Key: "/w/older", Revision: older}, etcdsync.Held},
		{etcdsync.Witness{Key: "/w/rewritten", Revision: rewritten}, etcdsync.Passed},
		{etcdsync.Witness{Key: "/w/deleted", Revision: deleted}, etcdsync.Passed},
		{etcdsync.Witness{Key: "/w/never", Revision: forkedAt}, etcdsync.Passed},
		{etcdsync.Witness{Key: "/w/held", Revision: held + 1000}, etcdsync.NotHeld},
		{etcdsync.Witness{}, etcdsync.Untold},
	} {
		if got := etcdsync.HistoryHolds(ctx, c.cli, tc.w); got != tc.want {
			t.Errorf("HistoryHolds(%s at %d) after a compaction = %s, want %s", tc.w.Key, tc.w.Revision, got, tc.want)
		}
	}
}

// TestRestoredBackupCompactedKeepsRevocations: etcd compacts (by default
// it does, by time or revisions), policy writes are rare, so the write a
// sidecar's confirmations read was compacted before the next one came;
// its read could not tell, the confirmation never moved on, and every
// write since went unchecked. A backup taken then (holding the compacted
// write), restored and written past while the sidecar was cut off, lost a
// later revocation, and the running sidecar let the revoked key in until
// its next read whole (5 minutes by default; an hour here). A compacted
// witness is read as its key is now, and the confirmation moves on.
func TestRestoredBackupCompactedKeepsRevocations(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	a := etcdadmin.New(c.cli, "")
	ctx := context.Background()
	push(t, a, examplePolicy(t))
	logs := &logBuffer{}
	r := runSyncer(t, c.cli, etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.New(logs).Level(zerolog.InfoLevel), Progress: 100 * time.Millisecond, Reconcile: time.Hour})
	revoked := func(id string) bool { return r.store.Load().Key([]byte(id)).Revoked }

	rev1, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the first revocation confirmed", func() bool { return r.Ready() && revoked("acmehris1") && r.CheckWitness().Revision == rev1 })
	if _, err := c.cli.Compact(ctx, c.climb(5)); err != nil {
		t.Fatal(err)
	}
	c.snapshot()
	rev2, err := a.RevokeKey(ctx, "globexbi1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the confirmation moved on from the compacted revocation to the next", func() bool {
		return revoked("globexbi1") && r.CheckWitness().Revision == rev2
	})
	c.restore(func(cli *clientv3.Client) int64 {
		for {
			resp, err := cli.Put(ctx, "/elsewhere/climb", "x")
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Revision > rev2+2 {
				return resp.Header.Revision
			}
		}
	})
	waitFor(t, 30*time.Second, "the fork followed", func() bool { return r.Rewinds() == 1 && r.Current() })
	if !revoked("globexbi1") {
		t.Fatalf("a running sidecar over a restored backup written past its revision: the revoked key globexbi1 works again\n%s", logs)
	}
}
