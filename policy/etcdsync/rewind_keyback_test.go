package etcdsync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestHeldRevocationOutlivesItsKeyRecord: etcd restored from a backup that
// predates the revocation of an etcd key holds the revocation on the
// sidecar; the key record then leaves etcd (deleted, or a restore older
// still) and comes back as it was (re-put from a dump, or the newer
// backup restored again). The key stays revoked: etcd holds no revocation
// of it, so nothing else revokes it. Before, the held revocation ended
// when the key left the policy and the key, put back, authenticated again.
func TestHeldRevocationOutlivesItsKeyRecord(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "etcd")
	e, err := devetcd.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli := dial(t, e)
	a := etcdadmin.New(cli, "")
	ctx := context.Background()
	k := etcdsync.NewLayout("")
	push(t, a, examplePolicy(t))
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cli.Get(ctx, k.Key(spec.ID))
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("key record: %v %v", got, err)
	}
	record := string(got.Kvs[0].Value) // an operator's dump of keys/

	backup := etcdtest.Backup(t, e, dir)
	scli, reads := readCounted(t, e, "")
	r := runSyncer(t, scli, etcdsync.SyncConfig{StateDir: t.TempDir(), Progress: 100 * time.Millisecond, Reconcile: 200 * time.Millisecond, Logger: zerolog.Nop()})
	revoked := func() bool { return r.store.Load().Key([]byte(spec.ID)).Revoked }
	rev, err := a.RevokeKey(ctx, spec.ID, meta)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/events/x"+fmt.Sprint(i), "{}"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "the revocation in force", func() bool { return r.Ready() && revoked() && r.Revision() > rev })

	e.Stop()
	etcdtest.PutBack(t, backup, dir)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	// The Store's snapshot below the revocation's revision is the state
	// the restored etcd read: the rewind is counted, and Current was true
	// all along, before that state is swapped in, and until it is the
	// snapshot in force is the one before the restore, at the revocation's
	// revision, which is also the revision of the delete below: waiting
	// for it waited for nothing, and the delete and the put could come in
	// one apply, the key record never gone from the sidecar.
	waitFor(t, 30*time.Second, "the rewind followed, the revocation held", func() bool {
		return r.Rewinds() == 1 && r.Current() && r.LKGHealth().Held == 1 && r.store.Load().Revision < rev
	})
	if !revoked() {
		t.Fatal("the revocation etcd lost is not held")
	}

	del, err := cli.Delete(ctx, k.Key(spec.ID))
	if err != nil || del.Deleted != 1 {
		t.Fatalf("delete key record: %v %v", del, err)
	}
	r.atRevision(t, del.Header.Revision)
	put, err := cli.Put(ctx, k.Key(spec.ID), record)
	if err != nil {
		t.Fatal(err)
	}
	r.atRevision(t, put.Header.Revision)
	// The re-reads (every 200 ms) apply etcd's state with what is held:
	// ten of them read after the put (eleven answered: the tenth applied
	// before the eleventh). 2 s stood in for them, which a loaded
	// machine could spend with few or none.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		done := reads.since(put.Header.Revision) > 10
		if kk := r.store.Load().Key([]byte(spec.ID)); kk == nil || !kk.Revoked {
			t.Fatalf("key %s put back after its held revocation authenticates again (held %d)", spec.ID, r.LKGHealth().Held)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d re-reads of etcd after the key was put back in 30s; want 11", reads.since(put.Header.Revision))
		}
	}
	if r.LKGHealth().Held != 1 {
		t.Errorf("held %d, want 1 until revoked again in etcd", r.LKGHealth().Held)
	}
	if _, err := a.RevokeKey(ctx, spec.ID, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the revocation in etcd again released", func() bool { return r.LKGHealth().Held == 0 && revoked() })
}
