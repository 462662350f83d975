package etcdsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
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
		{etcdsync.Witness{Key: "/w/deleted", Revision: deleted}, etcdsync.Gone},
		{etcdsync.Witness{Key: "/w/never", Revision: forkedAt}, etcdsync.Gone},
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
	c, a := newPushedCluster(t)
	ctx := context.Background()
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
	c.restore(func(cli *clientv3.Client) int64 { return climbPast(t, cli, rev2) })
	waitFor(t, 30*time.Second, "the fork followed", func() bool { return r.Rewinds() == 1 && r.Current() })
	if !revoked("globexbi1") {
		t.Fatalf("a running sidecar over a restored backup written past its revision: the revoked key globexbi1 works again\n%s", logs)
	}
}

// TestRestoredBackupCompactedPastTheRevocationKeepsIt: etcd restored from
// a backup that predates a revocation, written past the revision a
// sidecar applied and compacted past it before the sidecar read it again.
// The sidecar's witness is the revocation's record, which the restored
// etcd never wrote: gone, as a record deleted since would be, so no
// witness could tell, and the read whole lifted the revocation. Nothing
// deletes a revocation before it lapses, so one the read lacks is held:
// across a restart, and on a running sidecar whose watch, resumed past
// the compaction, read whole again.
func TestRestoredBackupCompactedPastTheRevocationKeepsIt(t *testing.T) {
	t.Parallel()
	c, a := newPushedCluster(t)
	ctx := context.Background()
	logs := &logBuffer{}
	revoked := func(r *running, id string) bool { return r.store.Load().Key([]byte(id)).Revoked }
	// compactedPast writes past applied while no sidecar reaches etcd, and
	// compacts there.
	compactedPast := func(applied int64) func(*clientv3.Client) int64 {
		return func(cli *clientv3.Client) int64 {
			rev := climbPast(t, cli, applied)
			if _, err := cli.Compact(ctx, rev); err != nil {
				t.Fatal(err)
			}
			return rev
		}
	}
	c.snapshot()
	cfg := etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.New(logs).Level(zerolog.InfoLevel)}
	r1 := runSyncer(t, c.cli, cfg)
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the revocation in force and saved", func() bool {
		return r1.Ready() && revoked(r1, "acmehris1") && r1.LKGHealth().Revision >= rev
	})
	r1.stop()
	c.restore(compactedPast(r1.Revision()))
	r2 := runSyncer(t, c.cli, cfg)
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r2.Ready() && r2.Current() })
	if !revoked(r2, "acmehris1") || r2.LKGHealth().Held != 1 {
		t.Fatalf("restarted over a restored backup compacted past its witness: acmehris1 revoked %v, held %d; want revoked, 1 held\n%s", revoked(r2, "acmehris1"), r2.LKGHealth().Held, logs)
	}
	if l := logs.String(); !strings.Contains(l, "gone from etcd, which never deletes one before it lapses") || !strings.Contains(l, `"revocations":["acmehris1"]`) {
		t.Errorf("no error line naming the revocation gone from etcd:\n%s", l)
	}
	r2.stop()

	c.snapshot()
	r3 := runSyncer(t, c.cli, etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.New(logs).Level(zerolog.InfoLevel), Progress: 100 * time.Millisecond, Reconcile: time.Hour})
	rev, err = a.RevokeKey(ctx, "globexbi1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second revocation in force", func() bool { return r3.Ready() && revoked(r3, "globexbi1") && r3.Revision() >= rev })
	c.restore(compactedPast(r3.Revision()))
	waitFor(t, 30*time.Second, "the running sidecar holding the revocation the restored etcd lacks", func() bool { return r3.LKGHealth().Held == 1 && r3.Current() })
	if !revoked(r3, "globexbi1") {
		t.Fatalf("a running sidecar over a restored backup compacted past its witness: the revoked key globexbi1 works again\n%s", logs)
	}
}

// TestLostRevocationHeldUnlessLapsed: a read whole lacking a revocation in
// force holds it when etcd's history is compacted past the revision
// applied, unless it is a token's revocation past the token's exp and the
// skew allowed (PruneRevocations deletes those); one the history shows
// deleted since (by hand) is let go, unless it is a token's that has not
// lapsed on this sidecar's clock (TestPrunedEarlyKeepsRevocation); a held
// one is let go once it lapses, since it then admits nothing the token
// would.
func TestLostRevocationHeldUnlessLapsed(t *testing.T) {
	t.Parallel()
	c, a := newPushedCluster(t)
	ctx := context.Background()
	now := time.Now()
	for id, exp := range map[string]time.Time{"lapsed": now.Add(-time.Hour), "live": now.Add(time.Hour), "byhand": {}, "early": now.Add(time.Hour)} {
		if _, err := a.RevokeToken(ctx, id, exp, meta); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logBuffer{}
	s := etcdsync.NewSyncer(c.cli, &policy.Store{}, etcdsync.SyncConfig{Logger: zerolog.New(logs), Now: func() time.Time { return now }})
	k := etcdsync.Layout(etcdsync.DefaultPrefix)
	read := func() *etcdsync.State { return readWhole(t, c.cli, k) }
	del := func(id string) int64 {
		resp, err := c.cli.Delete(ctx, k.Revocation(id))
		if err != nil || resp.Deleted != 1 {
			t.Fatalf("delete %s: %v, %d deleted", id, err, resp.Deleted)
		}
		return resp.Header.Revision
	}
	s.Install(read())
	del("jti:byhand")
	del("jti:early")
	s.Install(read())
	if h := s.LKGHealth().Held; h != 1 || !strings.Contains(logs.String(), `"revocation":"jti:early"`) {
		t.Fatalf("held %d after two revocations etcd's history shows deleted, one a token's with an expiry not passed; want that one alone\n%s", h, logs)
	}
	del("jti:lapsed")
	if _, err := c.cli.Compact(ctx, del("jti:live")); err != nil {
		t.Fatal(err)
	}
	s.Install(read())
	if h := s.LKGHealth().Held; h != 2 || !strings.Contains(logs.String(), `"revocation":"jti:live"`) {
		t.Fatalf("held %d after two more revocations went from etcd, compacted past; want the live one more\n%s", h, logs)
	}
	now = now.Add(2 * time.Hour)
	s.Install(read())
	if h := s.LKGHealth().Held; h != 0 || !strings.Contains(logs.String(), "lapsed with its token and is let go") {
		t.Fatalf("held %d once the live ones lapsed; want 0\n%s", h, logs)
	}
}

// TestConfirmationReadsTheFirstWriteSince: a running sidecar whose
// confirmation witness is a suspension, cut off just after it applied a
// revocation the backup predates (its first write since); etcd restored,
// written past, compacted past the suspension (not the revocation) and
// suspended again (an operator suspending after a restore), which the
// sidecar's watch applies when it reconnects. The confirmation found the
// suspension Passed (its key written since) and moved on to the last
// write applied, the restored etcd's, dropping the revocation's witness:
// nothing read it again, and the next read whole lifted the revocation.
// The confirmation reads the first write applied since before it moves
// on.
func TestConfirmationReadsTheFirstWriteSince(t *testing.T) {
	t.Parallel()
	pe := newPausedEtcd(t)
	cli, a := pe.cli, pe.a
	ctx := context.Background()
	logs := &logBuffer{}
	r := runSyncer(t, pe.pcli, etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.New(logs).Level(zerolog.InfoLevel), Progress: 3 * time.Second, Reconcile: time.Hour})
	revoked := func(id string) bool { return r.store.Load().Key([]byte(id)).Revoked }
	waitFor(t, 20*time.Second, "the sidecar ready", func() bool { return r.Ready() })
	suspension := etcdsync.NewLayout(etcdsync.DefaultPrefix).Suspension("globex-bi")
	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the confirmation on the suspension", func() bool { return r.CheckWitness().Key == suspension })
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the revocation in force", func() bool { return revoked("acmehris1") && r.Revision() >= rev })
	pe.restore(t)
	climbPast(t, cli, r.Revision())
	if _, err := cli.Compact(ctx, rev); err != nil { // past the suspension, not the revocation
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	pe.p.Resume()
	waitFor(t, 30*time.Second, "the fork found", func() bool { return r.Rewinds() == 1 && r.Current() })
	if !revoked("acmehris1") {
		t.Fatalf("a running sidecar cut off just after a revocation the restore lost: the revoked key acmehris1 works again\n%s", logs)
	}
}

// TestLostRevocationUntoldIsAskedAgain: a revocation deleted by hand while
// the watch was away, whose read whole is installed while etcd does not
// answer whether its history held it at the revision applied (not
// compacted: etcd down, a timeout), is kept in force and asked about
// again at the next read whole, which lets it go once etcd's history
// shows it deleted since. It was held for good, as one etcd lost: only
// this sidecar refused the key the operator had let in again, across
// restarts, until it was revoked for good.
func TestLostRevocationUntoldIsAskedAgain(t *testing.T) {
	t.Parallel()
	c, a := newPushedCluster(t)
	ctx := context.Background()
	if _, err := a.RevokeKey(ctx, "acmehris1", meta); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	s := etcdsync.NewSyncer(c.cli, &policy.Store{}, etcdsync.SyncConfig{Logger: zerolog.New(logs)})
	deletedUntold(t, c, s, "acmehris1", logs)
	s.Install(readWhole(t, c.cli, etcdsync.Layout(etcdsync.DefaultPrefix)))
	if h := s.LKGHealth().Held; h != 0 {
		t.Fatalf("held %d once etcd answered that its history holds the revocation deleted by hand; want 0\n%s", h, logs)
	}
}

// deletedUntold installs on s a read whole, deletes the revocation of id
// from etcd by hand, and installs a read whole lacking it while etcd is
// stopped (it cannot tell whether its history shows the deletion),
// checking that s keeps the revocation in force; it starts etcd again
// and returns the read installed.
func deletedUntold(t *testing.T, c *rewindCluster, s *etcdsync.Syncer, id string, logs *logBuffer) *etcdsync.State {
	t.Helper()
	k := etcdsync.Layout(etcdsync.DefaultPrefix)
	s.Install(readWhole(t, c.cli, k))
	if resp, err := c.cli.Delete(context.Background(), k.Revocation(id)); err != nil || resp.Deleted != 1 {
		t.Fatalf("delete %s: %v", id, err)
	}
	st := readWhole(t, c.cli, k)
	c.e.Stop()
	s.Install(st)
	if h := s.LKGHealth().Held; h != 1 {
		t.Fatalf("held %d while etcd did not answer; want the revocation kept in force\n%s", h, logs)
	}
	if err := c.e.Start(); err != nil {
		t.Fatal(err)
	}
	return st
}

// newPushedCluster is newRewindCluster with the example policy pushed
// under the default prefix, and the Admin that pushed it.
func newPushedCluster(t *testing.T) (*rewindCluster, *etcdadmin.Admin) {
	c := newRewindCluster(t)
	a := etcdadmin.New(c.cli, "")
	push(t, a, examplePolicy(t))
	return c, a
}

// readWhole reads the state under k as a re-read does.
func readWhole(t *testing.T, cli *clientv3.Client, k etcdsync.Layout) *etcdsync.State {
	t.Helper()
	st, err := etcdsync.ReadState(context.Background(), cli, k)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
