package etcdsync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tmpfs"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestLastKnownGoodFullDiskKeepsRevocation: the state directory fills up
// and a key is revoked. The save of the last-known-good file fails for
// want of room; the older file, which would take the revocation back, is
// removed and its space takes the new one. A restart during an etcd
// outage then serves the revocation. Before the fix the save failed with
// a warn log line only and the restart accepted the revoked key again.
// The failure is counted in /metrics.
func TestLastKnownGoodFullDiskKeepsRevocation(t *testing.T) {
	t.Parallel()
	dir := tmpfs.Mount(t, 256<<10)
	e, cli, a, first := syncedWithFile(t, dir)
	ctx := context.Background()
	waitFor(t, 10*time.Second, "the good state saved", func() bool { return first.LKGHealth().Revision >= 1 })
	filler := tmpfs.Fill(t, dir)
	// One page back: the new file, a revocation longer than the old one,
	// can need a page more than the old file frees (the example policy's
	// length decides), and that page must not be what this test is about.
	// The state file is several pages, so the first write still fails.
	if fi, err := os.Stat(filler); err != nil || os.Truncate(filler, fi.Size()-4096) != nil {
		t.Fatalf("giving a page back: %v", err)
	}
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	first.atRevision(t, rev)
	waitFor(t, 10*time.Second, "the revocation saved", func() bool { return first.LKGHealth().Revision >= rev })
	if h := first.LKGHealth(); !h.Full || !strings.Contains(h.String(), "disk was full") {
		t.Errorf("LKGHealth = %+v (%s); want the full disk said", h, h)
	}
	var m strings.Builder
	m.Write(first.AppendMetrics(nil))
	first.stop()
	e.Stop()
	os.Remove(filler) // disk space back; too late

	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond})
	waitFor(t, 10*time.Second, "last-known-good", r.Ready)
	if k := r.store.Load().Key([]byte("acmehris1")); k != nil && k.ValidAt(time.Now().UnixNano()) {
		t.Errorf("key revoked (revision %d) before the restart is valid again after it (snapshot revision %d); metrics before the restart:\n%s", rev, r.store.Load().Revision, m.String())
	}
	for _, want := range []string{"\nportcullis_policy_lkg_save_failures_total 1\n", "\nportcullis_policy_lkg_failing 0\n"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics before the restart lack %q:\n%s", want, m.String())
		}
	}
}

// TestLastKnownGoodSaveFailureReported: with no room at all for the
// last-known-good file, the saves fail and say so: a counter and a gauge
// in /metrics, LKGHealth (the sidecar's /readyz line) with the error; the
// state in force is unaffected. Once room comes back the save is retried
// without waiting for a change, and the failure clears.
func TestLastKnownGoodSaveFailureReported(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	dir := tmpfs.Mount(t, 256<<10)
	filler := tmpfs.Fill(t, dir)
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), StateDir: dir})
	rev, err := a.RevokeKey(context.Background(), "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	if !r.atRevision(t, rev).Key([]byte("acmehris1")).Revoked {
		t.Fatal("the revocation is not in force")
	}
	waitFor(t, 10*time.Second, "a failed save", func() bool { return r.LKGHealth().Failing })
	h := r.LKGHealth()
	if h.Failures < 1 || !strings.Contains(h.LastError, "no space left on device") || h.Revision != 0 ||
		!strings.Contains(h.String(), "saves failing since") || !strings.Contains(h.String(), "none saved yet") {
		t.Errorf("LKGHealth = %+v (%s); want failing on no space, none saved", h, h)
	}
	got := string(r.AppendMetrics(nil))
	for _, want := range []string{"\nportcullis_policy_lkg_failing 1\n", "\nportcullis_policy_lkg_revision 0\n", "\nportcullis_etcd_current 1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\nportcullis_policy_lkg_save_failures_total 0\n") {
		t.Errorf("failed saves not counted:\n%s", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".policy-lkg.json-*")); len(left) > 0 {
		t.Errorf("failed saves left %v behind", left)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the save retried", func() bool { return !r.LKGHealth().Failing })
	if h := r.LKGHealth(); h.Revision < rev || h.LastError != "" || !strings.HasPrefix(h.String(), "revision ") {
		t.Errorf("after room came back, LKGHealth = %+v (%s)", h, h)
	}
	if _, err := os.Stat(filepath.Join(dir, "policy-lkg.json")); err != nil {
		t.Errorf("no last-known-good file after the retry: %v", err)
	}
}

// TestLastKnownGoodSweepsKilledSaves: a save killed between its temporary
// file and the rename (OOM kill, node drain) leaves the temporary file
// behind, as large as the policy. Here one fills the state directory. The
// next start removes it and saves. Before the fix the leftover stayed
// forever and every save failed for want of room.
func TestLastKnownGoodSweepsKilledSaves(t *testing.T) {
	t.Parallel()
	cli, k, _ := examplePushed(t)
	dir := tmpfs.Mount(t, 256<<10)
	left := tmpfs.Fill(t, dir)
	killed := filepath.Join(dir, ".policy-lkg.json-4242")
	if err := os.Rename(left, killed); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(killed, old, old); err != nil {
		t.Fatal(err)
	}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), StateDir: dir})
	waitFor(t, 10*time.Second, "a save", func() bool { return r.LKGHealth().Revision >= 1 })
	if h := r.LKGHealth(); h.Failures != 0 {
		t.Errorf("LKGHealth = %+v (%s); want saved at the first try", h, h)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the killed save's temporary file is still there (%v)", err)
	}
}
