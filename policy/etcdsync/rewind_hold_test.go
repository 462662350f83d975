package etcdsync_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRestoredBackupKeepsRevocations: etcd restored from a backup that
// predates revocations, whether the sidecar restarts across the restore
// (its last-known-good file is newer than etcd) or follows it live. The
// revocations etcd lost stay in force, across a restart too, until they
// are written again in etcd; before, every sidecar applied the restored
// state whole and the revoked keys worked again.
func TestRestoredBackupKeepsRevocations(t *testing.T) {
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
	push(t, a, examplePolicy(t))
	backup := etcdtest.Backup(t, e, dir)
	restore := func() {
		t.Helper()
		e.Stop()
		etcdtest.PutBack(t, backup, dir)
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
	}
	climb := func(c *clientv3.Client) {
		t.Helper()
		for i := range 20 {
			if _, err := c.Put(ctx, etcdsync.DefaultPrefix+"/events/x"+fmt.Sprint(i), "{}"); err != nil {
				t.Fatal(err)
			}
		}
	}
	state := t.TempDir()
	logs := &logBuffer{}
	cfg := etcdsync.SyncConfig{StateDir: state, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)}
	revoked := func(r *running, id string) bool { return r.store.Load().Key([]byte(id)).Revoked }

	// 1. Revoked, then etcd restored while the sidecar is down.
	r1 := runSyncer(t, cli, cfg)
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	climb(cli)
	waitFor(t, 20*time.Second, "the revocation in force", func() bool { return r1.Ready() && revoked(r1, "acmehris1") && r1.Revision() > rev })
	r1.stop()
	restore()
	r2 := runSyncer(t, cli, cfg)
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r2.Ready() && r2.Current() })
	if !revoked(r2, "acmehris1") {
		t.Fatal("restarted over a restored backup: the revoked key acmehris1 works again")
	}
	if r2.Rewinds() != 1 || r2.LKGHealth().Held != 1 || !strings.Contains(r2.LKGHealth().String(), "revoke them again") {
		t.Errorf("rewinds %d, held %d (%s); want 1 and 1", r2.Rewinds(), r2.LKGHealth().Held, r2.LKGHealth())
	}

	// 2. Another revocation, then etcd restored under the running sidecar.
	rev, err = a.RevokeKey(ctx, "globexbi1", meta)
	if err != nil {
		t.Fatal(err)
	}
	climb(cli)
	waitFor(t, 20*time.Second, "the second revocation in force", func() bool { return revoked(r2, "globexbi1") && r2.Revision() > rev })
	restore()
	waitFor(t, 30*time.Second, "the rewind followed", func() bool { return r2.Rewinds() == 2 && r2.Current() })
	if !revoked(r2, "acmehris1") || !revoked(r2, "globexbi1") {
		t.Fatalf("followed a restored backup: acmehris1 revoked %v, globexbi1 revoked %v; want both", revoked(r2, "acmehris1"), revoked(r2, "globexbi1"))
	}
	if !strings.Contains(logs.String(), `"revocations":["globexbi1"]`) {
		t.Errorf("no error line naming the revocation held:\n%s", logs)
	}

	// 3. A restart with etcd at the restored revision: the file carries them.
	r2.stop()
	r3 := runSyncer(t, cli, cfg)
	waitFor(t, 30*time.Second, "the third sidecar current", func() bool { return r3.Ready() && r3.Current() })
	if !revoked(r3, "acmehris1") || !revoked(r3, "globexbi1") || r3.LKGHealth().Held != 2 {
		t.Fatalf("restarted: acmehris1 revoked %v, globexbi1 revoked %v, held %d; want both, 2", revoked(r3, "acmehris1"), revoked(r3, "globexbi1"), r3.LKGHealth().Held)
	}

	// 4. Revoked again in etcd: no longer held, still revoked.
	if _, err := a.RevokeKey(ctx, "acmehris1", meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the revocation in etcd again released", func() bool { return r3.LKGHealth().Held == 1 })
	if !revoked(r3, "acmehris1") {
		t.Error("revoked again: acmehris1 works")
	}
}
