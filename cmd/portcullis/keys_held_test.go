package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// A revocation the sidecars hold over etcd gone back (a restored backup
// predating it) ends only when etcd holds a revocation of that id again;
// the README said to run `keys revoke` once more, but once the key's
// record had left etcd too, `keys revoke` refused the id as no key, and
// the revocation stayed held, and counted in /readyz as one to revoke
// again, for ever. `keys revoke` now says to give --held, and
// `keys revoke --held` writes the revocation, which ends the hold.
func TestKeysRevokeEndsAHeldRevocationOfAGoneKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "etcd")
	e, err := devetcd.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	const prefix = "/keys-held"
	r := etcdRunner{t: t, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}}
	run := func(args ...string) string { t.Helper(); return r.run(0, args...) }
	run("policy", "push", examplePolicy, "--reason", "first")
	var created struct {
		Record struct{ ID string } `json:"record"`
	}
	json.Unmarshal([]byte(run("keys", "create", "--client", "acme-hris", "--ttl", "720h", "--json")), &created)
	id := created.Record.ID
	if id == "" {
		t.Fatal("keys create named no key")
	}

	backup := etcdtest.Backup(t, e, dir)
	cli := etcdtest.Dial(t, e)
	ctx := context.Background()
	s, _, _ := etcdtest.RunSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix, StateDir: t.TempDir(),
		Progress: 100 * time.Millisecond, Reconcile: 200 * time.Millisecond, Logger: zerolog.Nop()})
	run("keys", "revoke", id, "--reason", "leaked")
	for i := range 20 {
		if _, err := cli.Put(ctx, prefix+"/events/x"+fmt.Sprint(i), "{}"); err != nil {
			t.Fatal(err)
		}
	}
	top, err := cli.Get(ctx, prefix+"/policy")
	if err != nil {
		t.Fatal(err)
	}
	etcdtest.WaitFor(t, 20*time.Second, "the revocation applied", func() bool { return s.Revision() >= top.Header.Revision })

	e.Stop()
	etcdtest.PutBack(t, backup, dir)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	etcdtest.WaitFor(t, 30*time.Second, "the revocation held", func() bool { return s.Current() && s.LKGHealth().Held == 1 })
	if _, err := cli.Delete(ctx, etcdsync.NewLayout(prefix).Key(id)); err != nil {
		t.Fatal(err)
	}

	cmd, _ := lookupEtcd("keys revoke")
	var out, errOut bytes.Buffer
	args := append([]string{id, "--reason", "again", "--actor", "alice", "--ticket", "CHG-9"}, r.common...)
	if code := cmd.main(args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "give --held") {
		t.Fatalf("keys revoke of a gone key = exit %d, stderr %q; want a failure naming --held", code, &errOut)
	}
	if got := run("keys", "revoke", id, "--held", "--reason", "again after the restore"); !strings.Contains(got, "revoked "+id) {
		t.Errorf("keys revoke --held = %q", got)
	}
	etcdtest.WaitFor(t, 20*time.Second, "the held revocation ended", func() bool { return s.LKGHealth().Held == 0 })
	if code := cmd.main(append([]string{"Not/A-Key", "--held", "--reason", "x", "--actor", "alice", "--ticket", "CHG-9"}, r.common...), &out, &errOut); code == 0 || !strings.Contains(errOut.String(), `key id "Not/A-Key" must be 8-32 characters`) {
		t.Errorf("keys revoke --held of a malformed id = exit %d, stderr %q", code, &errOut)
	}
}
