package etcdsync_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRestoredBackupKeepsSuspensions: etcd restored from a backup that
// predates a suspension (an incident's containment) under a running
// sidecar. The suspension stays in force, across a restart too, until
// its until or until the client is suspended again in etcd; before, the
// restore lifted it on every sidecar and the contained client was served.
func TestRestoredBackupKeepsSuspensions(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	a := etcdadmin.New(c.cli, "")
	ctx := context.Background()
	push(t, a, examplePolicy(t))
	c.snapshot()
	restore := func() { c.restore(func(*clientv3.Client) int64 { return 0 }) }
	var skew atomic.Int64 // the sidecars' clock runs this far ahead
	logs := &logBuffer{}
	cfg := etcdsync.SyncConfig{
		StateDir:  t.TempDir(),
		Logger:    zerolog.New(logs).Level(zerolog.InfoLevel),
		Reconcile: 200 * time.Millisecond, // a held suspension past its until is lifted at the next full read
		Now:       func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	}
	suspended := func(r *running, client string) bool { return r.store.Load().Client(client).Suspended }

	// 1. Suspended, then etcd restored under the running sidecar.
	r1 := runSyncer(t, c.cli, cfg)
	waitFor(t, 20*time.Second, "the sidecar ready", func() bool { return r1.Ready() })
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	c.climb(20)
	waitFor(t, 20*time.Second, "the suspensions in force", func() bool {
		return suspended(r1, "acme-hris") && suspended(r1, "globex-bi")
	})
	restore()
	waitFor(t, 30*time.Second, "the rewind followed", func() bool { return r1.Rewinds() == 1 && r1.Current() })
	if !suspended(r1, "acme-hris") || !suspended(r1, "globex-bi") {
		t.Fatalf("followed a restored backup: acme-hris suspended %v, globex-bi suspended %v; want both", suspended(r1, "acme-hris"), suspended(r1, "globex-bi"))
	}
	if h := r1.LKGHealth(); h.HeldSusp != 2 || !strings.Contains(h.String(), "2 suspensions held") {
		t.Errorf("held suspensions %d (%s); want 2", h.HeldSusp, h)
	}
	if !strings.Contains(logs.String(), `"suspensions":["acme-hris","globex-bi"]`) {
		t.Errorf("no error line naming the suspensions held:\n%s", logs)
	}

	// 2. A restart with etcd at the restored revision: the file carries them.
	r1.stop()
	r2 := runSyncer(t, c.cli, cfg)
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r2.Ready() && r2.Current() })
	if !suspended(r2, "acme-hris") || !suspended(r2, "globex-bi") || r2.LKGHealth().HeldSusp != 2 {
		t.Fatalf("restarted: acme-hris suspended %v, globex-bi suspended %v, held %d; want both, 2", suspended(r2, "acme-hris"), suspended(r2, "globex-bi"), r2.LKGHealth().HeldSusp)
	}

	// 3. Suspended again in etcd: no longer held, still suspended, and
	// then lifted by a resume as any suspension is.
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the suspension in etcd again released", func() bool { return r2.LKGHealth().HeldSusp == 1 })
	if !suspended(r2, "acme-hris") {
		t.Error("suspended again: acme-hris is served")
	}
	if err := a.Resume(ctx, "acme-hris", meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the resume applied", func() bool { return !suspended(r2, "acme-hris") })

	// 4. Past its until, the held suspension is lifted: a restore does not
	// make a suspension longer than it was written.
	if !suspended(r2, "globex-bi") {
		t.Fatal("globex-bi is served before its until")
	}
	skew.Store(int64(2 * time.Hour))
	waitFor(t, 30*time.Second, "the held suspension lapsed", func() bool { return !suspended(r2, "globex-bi") && r2.LKGHealth().HeldSusp == 0 })
}
