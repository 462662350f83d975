package etcdsync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestLastKnownGoodOtherPrefixRefused: the last-known-good file did not say
// which deployment it was saved for, so a sidecar started with etcd
// unreachable, a --prefix of another deployment and the same --state-dir
// served the other deployment's policy: its keys authenticated here. The
// file now names its prefix, and one of another prefix is refused.
func TestLastKnownGoodOtherPrefixRefused(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	push(t, etcdadmin.New(cli, "/portcullis/one"), examplePolicy(t))
	dir := t.TempDir()
	first := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: "/portcullis/one", StateDir: dir})
	waitFor(t, 10*time.Second, "the state saved", func() bool { return first.LKGHealth().Revision >= 1 })
	first.stop()
	e.Stop()

	var logs logBuffer
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: "/portcullis/two", StateDir: dir, StartWait: 200 * time.Millisecond, Logger: zerolog.New(&logs).Level(zerolog.DebugLevel)})
	waitFor(t, 10*time.Second, "the last-known-good file served or refused", func() bool {
		s := logs.String()
		return strings.Contains(s, "serving the last-known-good policy") || strings.Contains(s, "no last-known-good policy")
	})
	if r.Ready() || !strings.Contains(logs.String(), `\"/portcullis/one\"`) {
		t.Errorf("sidecar of /portcullis/two on the file of /portcullis/one: ready %v; want not ready and the log naming the file's prefix:\n%s", r.Ready(), logs.String())
	}
}
