package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestSuspensionLapsedInFileHoldsOnceEtcdAnswers: a sidecar restarting
// while etcd is down serves its last-known-good file, where a suspension
// past its until (by this sidecar's clock) lapses, since the file cannot
// see the lease. When etcd answers with the same state, its record is
// there (its lease lives on: a writer's clock behind this one, or etcd
// renewing leases as it comes back), and a record in etcd suspends
// whatever the clocks say. Before, the state read equalled the file's, so
// the snapshot compiled from the file stayed and the client was let in
// until some other change.
func TestSuspensionLapsedInFileHoldsOnceEtcdAnswers(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	a := etcdadmin.New(cli, "")
	ctx := context.Background()
	dir := t.TempDir()
	push(t, a, examplePolicy(t))
	first := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, etcdsync.NewLayout("").Suspension("acme-hris"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("suspension record: %v, %v", resp, err)
	}
	if !first.atRevision(t, resp.Kvs[0].ModRevision).Client("acme-hris").Suspended {
		t.Fatal("suspension not in force")
	}
	first.stop() // writes the last-known-good file
	e.Stop()

	// Two hours on by this sidecar's clock: past the until in the file.
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond, Now: later})
	waitFor(t, 10*time.Second, "the last-known-good file served", func() bool { return r.Ready() })
	if r.Current() || r.store.Load().Client("acme-hris").Suspended {
		t.Fatalf("current %v, suspended %v: want the file served, its suspension lapsed", r.Current(), r.store.Load().Client("acme-hris").Suspended)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "etcd read again", func() bool { return r.Current() })
	if !r.store.Load().Client("acme-hris").Suspended {
		t.Fatal("the suspension record is in etcd, but the client is not suspended: the lapsed file's snapshot stayed")
	}
}
