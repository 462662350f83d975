package etcdsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestSyncerFollowsEtcdBack: etcd goes back in revision, restored from a
// backup of its data directory or replaced by a new cluster with the
// policy pushed again. The client library resumes the Syncer's watch at
// the revision it had reached, now in etcd's future, so nothing arrives
// on it. A re-read (reconcile) or a confirmation (confirm) that finds
// etcd below the revision applied is a lost watch: the Syncer installs
// the state read, watches from its revision, counts it and logs one warn
// line naming both revisions, and the member record follows. Each way of
// finding it alone suffices (the "confirm" and "reconcile" cases); before
// the fix the revocation written after the restore never reached the
// Store, while the Syncer reported itself current and fresh.
func TestSyncerFollowsEtcdBack(t *testing.T) {
	for _, tc := range []struct {
		name                string
		progress, reconcile time.Duration
		replace             bool // a new cluster, not the backup
	}{
		{name: "restored", progress: 100 * time.Millisecond, reconcile: 200 * time.Millisecond},
		{name: "restored/confirm", progress: 100 * time.Millisecond, reconcile: time.Hour},
		{name: "restored/reconcile", progress: time.Hour, reconcile: 200 * time.Millisecond},
		{name: "replaced", progress: 100 * time.Millisecond, reconcile: 200 * time.Millisecond, replace: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testFollowsEtcdBack(t, tc.progress, tc.reconcile, tc.replace)
		})
	}
}

func testFollowsEtcdBack(t *testing.T, progress, reconcile time.Duration, replace bool) {
	dir := filepath.Join(t.TempDir(), "etcd")
	e, err := devetcd.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli := dial(t, e)
	a := etcdadmin.New(cli, "")
	ctx := context.Background()
	push(t, a, examplePolicy(t))

	// Backup of the data directory (a volume snapshot).
	backup := etcdtest.Backup(t, e, dir)

	logs := &logBuffer{}
	const pod = "pod-a"
	r := runSyncer(t, cli, etcdsync.SyncConfig{Pod: pod, Progress: progress, Reconcile: reconcile, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	// Activity after the backup: the revision climbs.
	var rev int64
	for i := range 40 {
		resp, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/events/x"+fmt.Sprint(i), "{}")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	waitFor(t, 10*time.Second, "syncer at the climbed revision", func() bool { return r.Revision() >= rev })

	// Restore the backup, or start a new cluster and push again. The
	// revocation is written while the Syncer cannot reach etcd (it runs on
	// other ports meanwhile), so it is in etcd before the Syncer can find
	// etcd gone back: only a re-read can bring it in.
	e.Stop()
	if replace {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	} else {
		etcdtest.PutBack(t, backup, dir)
	}
	aside, err := devetcd.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(aside.Close)
	a2 := etcdadmin.New(dial(t, aside), "")
	if replace {
		push(t, a2, examplePolicy(t))
	}
	rrev, err := a2.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	aside.Stop()
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("syncer revision %d, revocation at %d after the cluster went back", r.Revision(), rrev)
	if rrev >= rev {
		t.Fatalf("etcd did not go back: revocation at %d, syncer had %d", rrev, rev)
	}

	// Before the fix it never came: 3 s is 15 reconciles and 30 confirms,
	// and the deadline is far longer only for a loaded machine.
	revoked := func() bool { return r.store.Load().Key([]byte("acmehris1")).Revoked }
	deadline := time.Now().Add(30 * time.Second)
	for !revoked() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	snap := r.store.Load()
	stale := time.Since(time.Unix(0, r.store.HeardAt()))
	t.Logf("current=%v ready=%v restarts=%d rewinds=%d staleness=%s", r.Current(), r.Ready(), r.Restarts(), r.Rewinds(), stale)
	if !snap.Key([]byte("acmehris1")).Revoked {
		t.Fatalf("key revoked in the cluster that went back is still accepted after 30s (current=%v, staleness %s)", r.Current(), stale)
	}
	// The member record's writes are revisions too: the Syncer is at the
	// revocation or later, and below the revision it had reached.
	if snap.Revision < rrev || snap.Revision >= rev || r.Revision() < snap.Revision {
		t.Errorf("snapshot at revision %d, Syncer at %d; want from %d (the revocation) to below %d (before the cluster went back)", snap.Revision, r.Revision(), rrev, rev)
	}
	if r.Rewinds() != 1 || r.Restarts() < 1 {
		t.Errorf("rewinds %d, watch restarts %d; want 1 and at least 1", r.Rewinds(), r.Restarts())
	}
	metrics := string(r.AppendMetrics(nil))
	if !strings.Contains(metrics, "\nportcullis_etcd_revision_rewinds_total 1\n") {
		t.Errorf("metrics do not count the rewind:\n%s", metrics)
	}
	var warned []struct{ Was, Now int64 }
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var line struct {
			Level, Message string
			Was, Now       int64
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if line.Level == "warn" && strings.Contains(line.Message, "backwards") {
			warned = append(warned, struct{ Was, Now int64 }{line.Was, line.Now})
		}
	}
	// etcd's revision in it is the one read: at the revocation or later
	// (the member record's write on reconnecting may come first), and
	// below the one reached.
	if len(warned) != 1 || warned[0].Was < rev || warned[0].Now < rrev || warned[0].Now >= rev {
		t.Errorf("want one warn line naming the revision reached (%d or later) and etcd's (from %d, below %d), got %+v\nall logs:\n%s", rev, rrev, rev, warned, logs)
	}

	// Later changes arrive on the watch restarted from the new revision.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	rs, err := a.RevokeKey(cctx, "globexbi1", meta)
	if err != nil {
		t.Fatal(err)
	}
	if !r.atRevision(t, rs).Key([]byte("globexbi1")).Revoked {
		t.Error("a revocation after following etcd back is not in force")
	}
	// At rs or later (a progress notification carries etcd's revision,
	// which the member record's own writes move on: absorb), and below the
	// revision reached before etcd went back, so not the old record.
	waitFor(t, 10*time.Second, "the member record at etcd's revision", func() bool {
		m, err := a.Members(ctx)
		return err == nil && len(m) == 1 && m[0].Pod == pod && m[0].Revision >= rs && m[0].Revision < rev
	})
}

// TestStateReadsLinearizable: the reads that may find etcd gone back
// (the whole state, confirm's) are linearizable. A serializable read
// answered by a member that lags would look like a cluster gone back and
// make a Syncer take back changes it had applied.
func TestStateReadsLinearizable(t *testing.T) {
	k := etcdsync.NewLayout(etcdsync.DefaultPrefix)
	for i, op := range append(etcdsync.StateOps(k), etcdsync.ConfirmOp(k)) {
		if op.IsSerializable() {
			t.Errorf("read %d (%s) is serializable", i, op.KeyBytes())
		}
	}
}
