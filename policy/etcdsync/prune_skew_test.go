package etcdsync_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestPrunedEarlyKeepsRevocation: keys prune-revocations judges a token
// revocation's lapse by the clock of the machine it runs on, and a
// sidecar judges the token's exp by its own. Run where the clock was fast
// by more than the skew allowed, it deleted a revocation before it
// lapsed on the sidecars, which lifted it at once and let the revoked
// token in until its exp passed on their clocks. A sidecar now holds a
// token revocation deleted before it lapsed on its own clock until it
// does, across a restart (the last-known-good file carries it), and then
// drops it; a revocation that never lapses (a key's, or a token's without
// an expiry) deleted by hand is still lifted.
func TestPrunedEarlyKeepsRevocation(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	ctx := context.Background()
	t0 := time.Now()
	var clock atomic.Int64 // the sidecars' clock
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	fast := 10*time.Minute + etcdadmin.PruneGrace // the pruning machine's clock is ahead of the sidecars' by this
	pruner := a.WithClock(func() time.Time { return time.Now().Add(fast) })
	exp := t0.Add(time.Minute) // revocation expires at exp + policy.MaxClockSkew: 6 minutes on, 4 minutes ago on the pruner's clock
	if _, err := a.RevokeToken(ctx, "tok-1", exp, meta); err != nil {
		t.Fatal(err)
	}
	rev, err := a.RevokeToken(ctx, "forever", time.Time{}, meta)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := &logBuffer{}
	cfg := etcdsync.SyncConfig{Prefix: string(k), StateDir: dir, Now: now, Logger: zerolog.New(logs)}
	r := runSyncer(t, cli, cfg)
	if s := r.atRevision(t, rev); !s.JTIRevoked("tok-1") || !s.JTIRevoked("forever") {
		t.Fatal("the revocations are not in force")
	}

	pruned, err := pruner.PruneRevocations(ctx, meta)
	if err != nil || len(pruned) != 1 || pruned[0] != "jti:tok-1" {
		t.Fatalf("prune on a clock %v fast = %v, %v; want jti:tok-1 pruned", fast, pruned, err)
	}
	del, err := cli.Delete(ctx, k.Revocation("jti:forever"))
	if err != nil || del.Deleted != 1 {
		t.Fatalf("delete jti:forever: %v", err)
	}
	s := r.atRevision(t, del.Header.Revision)
	if !s.JTIRevoked("tok-1") {
		t.Fatalf("a token revocation deleted before it lapsed on the sidecar's clock was lifted: the revoked token gets in\n%s", logs)
	}
	if s.JTIRevoked("forever") {
		t.Error("a token revocation without an expiry deleted by hand is still in force; want it lifted")
	}
	if h := r.LKGHealth().Held; h != 1 {
		t.Errorf("held %d, want the pruned revocation held", h)
	}
	// The last-known-good line of /readyz names the hold as what it is,
	// not only as etcd gone back, which it is not.
	if line := r.LKGHealth().String(); r.Rewinds() != 0 || !strings.Contains(line, "before they lapsed on this sidecar's clock") {
		t.Errorf("/readyz says %q (%d rewinds); want the hold of a revocation gone before it lapsed named", line, r.Rewinds())
	}
	waitFor(t, 20*time.Second, "the held revocation saved", func() bool { return r.LKGHealth().Revision >= del.Header.Revision })
	r.stop()

	r2 := runSyncer(t, cli, cfg)
	waitFor(t, 20*time.Second, "the restarted sidecar on etcd", func() bool { return r2.Ready() && r2.Current() })
	if !r2.store.Load().JTIRevoked("tok-1") {
		t.Fatalf("a restarted sidecar lifted the token revocation pruned before it lapsed on its clock\n%s", logs)
	}

	clock.Store(exp.Add(policy.MaxClockSkew).UnixNano())
	rev, err = a.RevokeToken(ctx, "other", time.Time{}, meta) // a change, so that the sidecar builds a snapshot at the time set
	if err != nil {
		t.Fatal(err)
	}
	if r2.atRevision(t, rev).JTIRevoked("tok-1") {
		t.Error("the held token revocation is still in force once it lapsed on the sidecar's clock")
	}
}

// TestPrunedEarlyHeldCountedFromTheFile: a sidecar restarted while etcd
// does not answer serves the last-known-good file, whose held revocations
// (here one pruned before it lapsed on the sidecar's clock) it keeps in
// force; portcullis_policy_revocations_held and the last-known-good line
// of /readyz (LKGHealth) said 0 held until etcd answered, since only a
// read of etcd counted them.
func TestPrunedEarlyHeldCountedFromTheFile(t *testing.T) {
	t.Parallel()
	c, a := newPushedCluster(t)
	ctx := context.Background()
	if _, err := a.RevokeToken(ctx, "tok-1", time.Now().Add(time.Minute), meta); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := &logBuffer{}
	cfg := etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond, Logger: zerolog.New(logs)}
	r := runSyncer(t, c.cli, cfg)
	waitFor(t, 20*time.Second, "the revocation in force", func() bool { return r.Ready() && r.store.Load().JTIRevoked("tok-1") })
	pruner := a.WithClock(func() time.Time { return time.Now().Add(10*time.Minute + etcdadmin.PruneGrace) })
	if pruned, err := pruner.PruneRevocations(ctx, meta); err != nil || len(pruned) != 1 {
		t.Fatalf("prune on a fast clock = %v, %v; want jti:tok-1 pruned", pruned, err)
	}
	waitFor(t, 20*time.Second, "the pruned revocation held and saved", func() bool {
		st, err := etcdsync.ReadLKGState(dir)
		return r.LKGHealth().Held == 1 && err == nil && st.Held["jti:tok-1"] != ""
	})
	r.stop()
	c.e.Stop()

	r2 := runSyncer(t, c.cli, cfg)
	waitFor(t, 20*time.Second, "the restarted sidecar serving the file", func() bool { return r2.Ready() })
	if !r2.store.Load().JTIRevoked("tok-1") {
		t.Fatalf("the held revocation is not in force from the file\n%s", logs)
	}
	if h := r2.LKGHealth().Held; h != 1 {
		t.Errorf("held %d while serving the last-known-good file, which holds one; want 1", h)
	}
}
