package etcdsync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestStateDirOthersCanWriteRefused: the last-known-good file is the
// policy served while etcd is unreachable, and its checksum line stops a
// torn write, not an edit. Before the fix a state directory or file that
// another user could write was read like any other, so that user could
// plant a policy for the next restart during an etcd outage. Now a
// directory writable by its group or others, or owned by another user,
// stops the Syncer with an error naming it, and such a file is not
// served.
func TestStateDirOthersCanWriteRefused(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	dir := filepath.Join(t.TempDir(), "state")
	first := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	push(t, etcdadmin.New(cli, ""), examplePolicy(t))
	first.atRevision(t, 1)
	waitFor(t, 10*time.Second, "the state saved", func() bool { return first.LKGHealth().Revision >= 1 })
	first.stop()
	e.Stop()
	lkg := filepath.Join(dir, "policy-lkg.json")

	refused := func(t *testing.T, want string) {
		t.Helper()
		s := etcdsync.NewSyncer(cli, &policy.Store{}, etcdsync.SyncConfig{StateDir: dir, StartWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.Run(ctx) // returns at once: it must not serve the directory
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("Run = %v; want an error naming %q and saying %q", err, dir, want)
		}
	}
	t.Run("directory writable by others", func(t *testing.T) {
		os.Chmod(dir, 0o777)
		defer os.Chmod(dir, 0o700)
		refused(t, "writable by its group or by others (mode 0777)")
	})
	t.Run("directory writable by its group", func(t *testing.T) {
		os.Chmod(dir, 0o770)
		defer os.Chmod(dir, 0o700)
		refused(t, "writable by its group or by others (mode 0770)")
	})
	t.Run("directory owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("giving a directory to another user needs root (CI runs as root)")
		}
		os.Chown(dir, 65534, 65534)
		defer os.Chown(dir, 0, 0)
		refused(t, "owned by user 65534")
	})
	t.Run("file writable by others", func(t *testing.T) {
		if err := os.Chmod(lkg, 0o666); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(lkg, 0o600)
		logs := &logBuffer{}
		r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 100 * time.Millisecond, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
		waitFor(t, 10*time.Second, "the refusal logged", func() bool {
			return strings.Contains(logs.String(), "no last-known-good policy")
		})
		if l := logs.String(); !strings.Contains(l, lkg) || !strings.Contains(l, "is writable by its group or by others (mode 0666)") {
			t.Errorf("log does not name the file and why:\n%s", logs)
		}
		if r.Ready() || r.store.Load() != nil {
			t.Errorf("a last-known-good file others can write was served")
		}
	})
	t.Run("private again is served", func(t *testing.T) { // the same file, so the refusals above are for its modes
		r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 100 * time.Millisecond})
		waitFor(t, 10*time.Second, "last-known-good", r.Ready)
	})
}
