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

// TestRestoredOlderSuspensionKeepsHeld: a client suspended for a few
// seconds, the backup taken, then its suspension extended to an hour
// (an incident growing), and etcd restored. The restored etcd holds the
// client's old, short suspension, whose lease the restore restarted;
// it ended the hold of the hour's suspension, so the client was served
// again once that lease ran out. The held suspension stays in force.
func TestRestoredOlderSuspensionKeepsHeld(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	cli := c.cli
	a := etcdadmin.New(cli, "")
	ctx := context.Background()
	push(t, a, examplePolicy(t))
	cfg := etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.Nop(), Reconcile: 200 * time.Millisecond}
	r := runSyncer(t, cli, cfg)
	waitFor(t, 20*time.Second, "the sidecar ready", func() bool { return r.Ready() })
	suspended := func() bool { return r.store.Load().Client("acme-hris").Suspended }

	if _, err := a.Suspend(ctx, "acme-hris", 10*time.Second, meta); err != nil {
		t.Fatal(err)
	}
	c.snapshot()
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	c.climb(20)
	waitFor(t, 20*time.Second, "the hour's suspension in force", func() bool { return suspended() && r.Revision() > 0 })

	c.restore(func(*clientv3.Client) int64 { return 0 })
	waitFor(t, 30*time.Second, "the rewind followed", func() bool { return r.Rewinds() == 1 && r.Current() })
	if g, err := cli.Get(ctx, etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris")); err != nil || len(g.Kvs) == 0 {
		t.Fatalf("the restored etcd lacks the short suspension (%v): the test proves nothing", err)
	}
	waitFor(t, 30*time.Second, "the restored short suspension's lease run out", func() bool {
		resp, err := cli.Get(ctx, etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris"))
		return err == nil && len(resp.Kvs) == 0
	})
	resp, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/events/after", "{}") // after the lease's delete
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the sidecar past the lease's delete", func() bool { return r.Revision() >= resp.Header.Revision })
	if !suspended() {
		t.Fatal("the hour's suspension held over the restore was lifted when the restored backup's older, shorter suspension of the client lapsed")
	}
	if h := r.LKGHealth(); h.HeldSusp != 1 {
		t.Errorf("held suspensions %d, want 1", h.HeldSusp)
	}
}

// TestRestoredOlderSuspensionPutBackKeepsHeld: the hour's suspension held
// over a restore whose backup had the client's older, shorter one, and
// that older record then put back as it was (a dump replayed), on a
// lease of its own. The re-read after a restore keeps the hold over such
// a record (supersedes), but a put seen on the watch ended any hold of
// its client: the client was served again once the put-back record's
// lease ran out, the hour notwithstanding. The watch keeps the hold as
// the re-read does.
func TestRestoredOlderSuspensionPutBackKeepsHeld(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	cli := c.cli
	a := etcdadmin.New(cli, "")
	ctx := context.Background()
	push(t, a, examplePolicy(t))
	cfg := etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.Nop(), Reconcile: 200 * time.Millisecond}
	r := runSyncer(t, cli, cfg)
	waitFor(t, 20*time.Second, "the sidecar ready", func() bool { return r.Ready() })
	suspended := func() bool { return r.store.Load().Client("acme-hris").Suspended }
	key := etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris")

	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	c.snapshot()
	if _, err := a.Suspend(ctx, "acme-hris", 2*time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	c.climb(20)
	waitFor(t, 20*time.Second, "the two hours' suspension in force", func() bool { return suspended() && r.Revision() > 0 })

	c.restore(func(*clientv3.Client) int64 { return 0 })
	waitFor(t, 30*time.Second, "the rewind followed", func() bool { return r.Rewinds() == 1 && r.Current() })
	old, err := cli.Get(ctx, key)
	if err != nil || len(old.Kvs) == 0 {
		t.Fatalf("the restored etcd lacks the hour's suspension (%v): the test proves nothing", err)
	}
	if h := r.LKGHealth(); h.HeldSusp != 1 {
		t.Fatalf("held suspensions %d after the restore, want 1", h.HeldSusp)
	}

	// The older record put back as it was, on a lease of 2 s.
	lease, err := cli.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, key, string(old.Kvs[0].Value), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the put-back record's lease run out", func() bool {
		resp, err := cli.Get(ctx, key)
		return err == nil && len(resp.Kvs) == 0
	})
	resp, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/events/after", "{}") // after the lease's delete
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the sidecar past the lease's delete", func() bool { return r.Revision() >= resp.Header.Revision })
	if !suspended() {
		t.Fatal("the two hours' suspension held over the restore was lifted when the older, shorter record was put back and its lease ran out")
	}
	if h := r.LKGHealth(); h.HeldSusp != 1 {
		t.Errorf("held suspensions %d, want 1", h.HeldSusp)
	}
}

// TestContainmentKeepsHeldSuspension: a client suspended for an hour
// after the backup, etcd restored (the sidecar holds the suspension), and
// then an alert's rule contains the client again for a few seconds
// (SuspendAtLeast, which never shortens a suspension in force). Its
// record, newer than the held one, ended the hold, so the client was
// served once its lease ran out, most of the hour early. The held
// suspension stays in force.
func TestContainmentKeepsHeldSuspension(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	cli := c.cli
	a := etcdadmin.New(cli, "")
	ctx := context.Background()
	push(t, a, examplePolicy(t))
	c.snapshot()
	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.Nop(), Reconcile: 200 * time.Millisecond})
	waitFor(t, 20*time.Second, "the sidecar ready", func() bool { return r.Ready() })
	suspended := func() bool { return r.store.Load().Client("acme-hris").Suspended }
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	c.climb(20)
	waitFor(t, 20*time.Second, "the hour's suspension in force", func() bool { return suspended() && r.Revision() > 0 })

	c.restore(func(*clientv3.Client) int64 { return 0 })
	waitFor(t, 30*time.Second, "the suspension held over the restore", func() bool { return r.Rewinds() == 1 && r.Current() && r.LKGHealth().HeldSusp == 1 })
	s, err := a.SuspendAtLeast(ctx, "acme-hris", 3*time.Second, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !s.AtLeast {
		t.Fatalf("the containment's suspension %+v is not marked at_least", s)
	}
	key := etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris")
	waitFor(t, 30*time.Second, "the containment's lease run out", func() bool {
		resp, err := cli.Get(ctx, key)
		return err == nil && len(resp.Kvs) == 0
	})
	resp, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/events/after", "{}")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the sidecar past the lease's delete", func() bool { return r.Revision() >= resp.Header.Revision })
	time.Sleep(500 * time.Millisecond) // a full read (every 200 ms) after it, too
	if !suspended() {
		t.Fatal("the hour's suspension held over the restore was lifted by a containment's shorter suspension, once its lease ran out")
	}
	if h := r.LKGHealth(); h.HeldSusp != 1 {
		t.Errorf("held suspensions %d, want 1", h.HeldSusp)
	}
}
