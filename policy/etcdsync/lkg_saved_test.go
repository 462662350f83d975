package etcdsync_test

import (
	"os"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tmpfs"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestLastKnownGoodSavedIsLastConfirmed: the last-known-good file's time
// is when its state was last confirmed current, which a restart while etcd
// is unreachable takes as the time etcd was last heard (the staleness
// bound, `staleness: {action: deny}`, counts from it). A save that failed
// (full disk) and was retried after etcd had become unreachable stamped
// the time of the retry: a sidecar cut off from etcd, and so blind to the
// revocations since, got that much longer before the bound denied. The
// stamp is now the Store's last confirmation.
func TestLastKnownGoodSavedIsLastConfirmed(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	push(t, etcdadmin.New(cli, ""), examplePolicy(t))
	dir := tmpfs.Mount(t, 256<<10)
	filler := tmpfs.Fill(t, dir)
	first := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	first.atRevision(t, 1)
	waitFor(t, 10*time.Second, "a failed save", func() bool { return first.LKGHealth().Failing })
	e.Stop()
	cut := time.Now() // etcd answers nothing after this
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the save retried", func() bool { return !first.LKGHealth().Failing })
	first.stop()

	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond})
	waitFor(t, 10*time.Second, "last-known-good", r.Ready)
	if heard := time.Unix(0, r.store.HeardAt()); heard.After(cut) {
		t.Errorf("restart on the last-known-good file takes etcd as heard at %s, %s after etcd stopped answering; want at or before it",
			heard.Format(time.RFC3339Nano), heard.Sub(cut))
	}
}
