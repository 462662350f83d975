package etcdsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRestoredBackupWrittenPastKeepsRevocations: etcd restored from a
// backup that predates a revocation while the sidecar was down, then
// written past the revision the sidecar had applied before it came back
// (the other sidecars' members/ and demand/ records climb it fast). Its
// revision was above the last-known-good file's, so the restarted
// sidecar took the restored state for a later one and the revoked key
// worked again. The sidecar now reads the last state write it applied
// (the file's witness) at its revision: etcd's history without it is
// etcd gone back, and the revocation is held.
func TestRestoredBackupWrittenPastKeepsRevocations(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	a := etcdadmin.New(c.cli, "")
	ctx := context.Background()
	push(t, a, examplePolicy(t))
	c.snapshot()
	logs := &logBuffer{}
	cfg := etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.New(logs).Level(zerolog.InfoLevel)}
	revoked := func(r *running, id string) bool { return r.store.Load().Key([]byte(id)).Revoked }
	// past is restore's write while no sidecar reaches etcd: keys of no
	// state, past revision applied.
	past := func(applied int64) func(*clientv3.Client) int64 {
		return func(cli *clientv3.Client) int64 { return climbPast(t, cli, applied) }
	}

	r1 := runSyncer(t, c.cli, cfg)
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the revocation in force and saved", func() bool {
		return r1.Ready() && revoked(r1, "acmehris1") && r1.Revision() >= rev && r1.LKGHealth().Revision >= rev
	})
	applied := r1.Revision()
	r1.stop()
	c.restore(past(applied))

	r2 := runSyncer(t, c.cli, cfg)
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r2.Ready() && r2.Current() })
	if !revoked(r2, "acmehris1") {
		t.Fatalf("restarted over a restored backup written past the revision applied: the revoked key acmehris1 works again\n%s", logs)
	}
	if r2.Rewinds() != 1 || r2.LKGHealth().Held != 1 {
		t.Errorf("rewinds %d, held %d; want 1 and 1", r2.Rewinds(), r2.LKGHealth().Held)
	}
	if l := logs.String(); !strings.Contains(l, "no longer holds a write this sidecar applied") || !strings.Contains(l, `"revocations":["acmehris1"]`) {
		t.Errorf("no lines naming etcd's forked history and the revocation held:\n%s", l)
	}
	r2.stop()

	// Live: a running sidecar cut off from etcd while it is restored and
	// written past (restore writes while etcd answers on other ports), so
	// that its first read after it is above the revision applied (the
	// confirm read every Progress finds the fork).
	c.snapshot()
	r3 := runSyncer(t, c.cli, etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.New(logs).Level(zerolog.InfoLevel), Progress: 200 * time.Millisecond})
	rev, err = a.RevokeKey(ctx, "globexbi1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the second revocation in force", func() bool { return r3.Ready() && revoked(r3, "globexbi1") && r3.Revision() >= rev })
	c.restore(past(r3.Revision()))
	waitFor(t, 30*time.Second, "the fork followed", func() bool { return r3.Rewinds() == 1 && r3.Current() })
	if !revoked(r3, "globexbi1") {
		t.Fatalf("a running sidecar over a restored backup written past the revision applied: the revoked key globexbi1 works again\n%s", logs)
	}
}

// TestRestoredWriteSeenBeforeRestartKeepsRevocations: a running sidecar
// cut off from etcd just after it applied a revocation the backup
// predates; etcd restored, written past the revision applied, and given a
// state write of its own (a suspension, as an operator suspending again
// after a restore); the sidecar reconnects and its watch applies that
// write, and it is restarted before a confirmation reads its witness
// (here Progress is an hour; by default within 5 s). The last-known-good
// file named the restored etcd's write as its witness, which etcd's
// history holds, so the restarted sidecar took the restored state for a
// later one and the revoked key worked again. The file names the write
// confirmed before too, and a read whole checks both.
func TestRestoredWriteSeenBeforeRestartKeepsRevocations(t *testing.T) {
	t.Parallel()
	pe := newPausedEtcd(t)
	cli, pcli, a, p := pe.cli, pe.pcli, pe.a, pe.p
	ctx := context.Background()
	state := t.TempDir()
	logs := &logBuffer{}
	revoked := func(r *running, id string) bool { return r.store.Load().Key([]byte(id)).Revoked }

	r1 := runSyncer(t, pcli, etcdsync.SyncConfig{StateDir: state, Logger: zerolog.New(logs).Level(zerolog.InfoLevel), Progress: time.Hour, Reconcile: time.Hour})
	waitFor(t, 20*time.Second, "the sidecar ready", func() bool { return r1.Ready() })
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the revocation in force and saved", func() bool {
		return revoked(r1, "acmehris1") && r1.Revision() >= rev && r1.LKGHealth().Revision >= rev
	})
	pe.restore(t)
	climbPast(t, cli, r1.Revision())
	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, etcdsync.DefaultPrefix+"/none")
	if err != nil {
		t.Fatal(err)
	}
	p.Resume()
	waitFor(t, 30*time.Second, "the restored etcd's suspension applied and saved", func() bool {
		return r1.Revision() >= resp.Header.Revision && r1.LKGHealth().Revision >= resp.Header.Revision
	})
	r1.stop()

	r2 := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: state, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r2.Ready() && r2.Current() })
	if !revoked(r2, "acmehris1") {
		t.Fatalf("restarted after its watch applied a write of the restored etcd: the revoked key acmehris1 works again\n%s", logs)
	}
	if r2.Rewinds() != 1 || r2.LKGHealth().Held != 1 {
		t.Errorf("rewinds %d, held %d; want 1 and 1", r2.Rewinds(), r2.LKGHealth().Held)
	}
}
