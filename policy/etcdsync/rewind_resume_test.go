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

// TestRestoredBackupCompactedPastTheSuspensionKeepsIt: etcd restored from
// a backup that predates a suspension (an incident's containment), written
// past the revision a sidecar applied and compacted past it before the
// sidecar read it again, as etcdutl snapshot restore --bump-revision
// --mark-compacted leaves it. The sidecar's witness is the suspension's
// record, which the restored etcd never wrote: gone, as one resumed since
// would be, and the read whole lifted the suspension, serving the
// contained client. A suspension the read lacks before its until is now
// held unless etcd holds a resumption of it (clients resume writes one);
// one resumed while the sidecar was away is lifted at its restart.
func TestRestoredBackupCompactedPastTheSuspensionKeepsIt(t *testing.T) {
	t.Parallel()
	c, a := newPushedCluster(t)
	ctx := context.Background()
	logs := &logBuffer{}
	suspended := func(r *running) bool { return r.store.Load().Client("acme-hris").Suspended }
	c.snapshot()
	cfg := etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.New(logs).Level(zerolog.InfoLevel)}
	r1 := runSyncer(t, c.cli, cfg)
	rev := suspend(t, c.cli, a)
	waitFor(t, 20*time.Second, "the suspension in force and saved", func() bool {
		return r1.Ready() && suspended(r1) && r1.LKGHealth().Revision >= rev
	})
	r1.stop()
	c.restore(func(cli *clientv3.Client) int64 {
		rev := climbPast(t, cli, r1.Revision())
		if _, err := cli.Compact(ctx, rev); err != nil {
			t.Fatal(err)
		}
		return rev
	})
	r2 := runSyncer(t, c.cli, cfg)
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r2.Ready() && r2.Current() })
	if !suspended(r2) || r2.LKGHealth().HeldSusp != 1 {
		t.Fatalf("restarted over a restored backup compacted past the suspension: acme-hris suspended %v, held %d; want suspended, 1 held\n%s", suspended(r2), r2.LKGHealth().HeldSusp, logs)
	}
	if l := logs.String(); !strings.Contains(l, "etcd holds no resumption of them") || !strings.Contains(l, `"suspensions":["acme-hris"]`) {
		t.Errorf("no error line naming the suspension gone from etcd:\n%s", l)
	}

	// Suspended again (durable in etcd), then resumed while the sidecar
	// is away: the restart lifts it.
	rev = suspend(t, c.cli, a)
	waitFor(t, 20*time.Second, "the suspension in etcd again, saved", func() bool {
		return r2.LKGHealth().HeldSusp == 0 && r2.LKGHealth().Revision >= rev
	})
	r2.stop()
	if err := a.Resume(ctx, "acme-hris", meta); err != nil {
		t.Fatal(err)
	}
	r3 := runSyncer(t, c.cli, cfg)
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r3.Ready() && r3.Current() })
	if suspended(r3) || r3.LKGHealth().HeldSusp != 0 {
		t.Fatalf("restarted after the client was resumed while it was away: acme-hris suspended %v, held %d; want served\n%s", suspended(r3), r3.LKGHealth().HeldSusp, logs)
	}
}

// TestLostSuspensionUntoldIsAskedAgain: a suspension resumed while the
// watch was away, whose read whole is installed while etcd does not
// answer whether it holds a resumption, stays in force and is lifted at
// the next read whole once etcd answers that it was resumed.
func TestLostSuspensionUntoldIsAskedAgain(t *testing.T) {
	t.Parallel()
	c, a, r := suspendedAndRead(t)
	if err := a.Resume(context.Background(), "acme-hris", meta); err != nil {
		t.Fatal(err)
	}
	st := readWhole(t, c.cli, etcdsync.Layout(etcdsync.DefaultPrefix))
	c.e.Stop()
	r.s.Install(st) // etcd cannot tell whether the client was resumed
	if h := r.s.LKGHealth().HeldSusp; h != 1 || !strings.Contains(r.logs.String(), "did not answer whether they were resumed") {
		t.Fatalf("held %d while etcd did not answer; want the suspension kept in force\n%s", h, r.logs)
	}
	if err := c.e.Start(); err != nil {
		t.Fatal(err)
	}
	r.read()
	if h := r.s.LKGHealth().HeldSusp; h != 0 {
		t.Fatalf("held %d once etcd answered that the client was resumed; want 0\n%s", h, r.logs)
	}
}

// suspend suspends acme-hris for an hour and returns etcd's revision then.
func suspend(t *testing.T, cli *clientv3.Client, a *etcdadmin.Admin) int64 {
	t.Helper()
	if _, err := a.Suspend(context.Background(), "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}
