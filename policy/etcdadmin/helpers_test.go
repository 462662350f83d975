package etcdadmin

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// shared is one real etcd server for the tests that do not stop it; each
// test works under its own prefix.
var shared *devetcd.Server

func TestMain(m *testing.M) { etcdtest.Main(m, &shared) }

// newPrefix returns a deployment prefix no other test uses.
func newPrefix(t testing.TB) string {
	return etcdtest.NewPrefix(t)
}

func dial(t testing.TB, e *devetcd.Server) *clientv3.Client {
	t.Helper()
	return etcdtest.Dial(t, e)
}

// examplePolicy returns the example policy of the repository.
func examplePolicy(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var meta = Meta{Actor: "tester", Reason: "test", Ticket: "T-1"}

// push pushes doc and returns its revision.
func push(t testing.TB, a *Admin, doc []byte) int64 {
	t.Helper()
	rev, err := a.PushPolicy(context.Background(), doc, 0, meta)
	if err != nil {
		t.Fatalf("PushPolicy: %v", err)
	}
	return rev
}

// deployment is the common start of a test: a fresh prefix on the shared
// etcd with the example policy pushed and a Syncer following it.
func deployment(t testing.TB) (cli *clientv3.Client, prefix string, a *Admin, r *running) {
	t.Helper()
	cli = dial(t, shared)
	prefix = newPrefix(t)
	a = New(cli, prefix)
	push(t, a, examplePolicy(t))
	return cli, prefix, a, runSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix})
}

// running is a Syncer running in the background for one test.
type running struct {
	*etcdsync.Syncer
	store *policy.Store
	stop  func() // cancels Run and waits for it to return
}

// runSyncer starts a Syncer for prefix; it stops at the end of the test.
func runSyncer(t testing.TB, cli *clientv3.Client, cfg etcdsync.SyncConfig) *running {
	t.Helper()
	s, store, stop := etcdtest.RunSyncer(t, cli, cfg)
	return &running{Syncer: s, store: store, stop: stop}
}

// waitFor polls cond until it holds, failing the test after timeout. It
// waits for an event; it asserts nothing about speed.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	etcdtest.WaitFor(t, timeout, what, cond)
}

// atRevision waits until the Store holds a snapshot at rev or later.
func (r *running) atRevision(t testing.TB, rev int64) *policy.Snapshot {
	t.Helper()
	return etcdtest.AtRevision(t, r.store, rev)
}

func clientWithPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }
