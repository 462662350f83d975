package etcdsync_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// shared is one real etcd server for the tests that do not stop it; each
// test works under its own prefix.
var shared *devetcd.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etcdsync-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = devetcd.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	shared.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

var prefixes atomic.Int64

// newPrefix returns a deployment prefix no other test uses.
func newPrefix(t testing.TB) string {
	return fmt.Sprintf("/test/%s-%d", t.Name(), prefixes.Add(1))
}

// ownEtcd starts an etcd server for a test that stops or restarts it.
func ownEtcd(t testing.TB) *devetcd.Server {
	t.Helper()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func dial(t testing.TB, e *devetcd.Server) *clientv3.Client {
	t.Helper()
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
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

// push pushes doc and returns its revision.
func push(t testing.TB, a *etcdadmin.Admin, doc []byte) int64 {
	t.Helper()
	rev, err := a.PushPolicy(context.Background(), doc, 0, meta)
	if err != nil {
		t.Fatalf("PushPolicy: %v", err)
	}
	return rev
}

// newDeployment is the common start of a test: a fresh prefix on the shared
// etcd with the example policy pushed and a Syncer following it.
func newDeployment(t testing.TB) (cli *clientv3.Client, prefix string, a *etcdadmin.Admin, r *running) {
	t.Helper()
	cli = dial(t, shared)
	prefix = newPrefix(t)
	a = etcdadmin.New(cli, prefix)
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
	store := &policy.Store{}
	if cfg.Logger.GetLevel() == zerolog.TraceLevel {
		cfg.Logger = zerolog.Nop()
	}
	s := etcdsync.NewSyncer(cli, store, cfg)
	r := &running{Syncer: s, store: store}
	r.stop = startRun(t, s)
	t.Cleanup(r.stop)
	return r
}

// startRun runs s.Run in the background; the returned func cancels it and
// waits for it to return.
func startRun(t testing.TB, s *etcdsync.Syncer) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// waitFor polls cond until it holds, failing the test after timeout. It
// waits for an event; it asserts nothing about speed.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// atRevision waits until the Store holds a snapshot at rev or later.
func (r *running) atRevision(t testing.TB, rev int64) *policy.Snapshot {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("snapshot at revision %d", rev), func() bool {
		s := r.store.Load()
		return s != nil && s.Revision >= rev
	})
	return r.store.Load()
}

func clientWithPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }
