// Package etcdtest is what the tests of the etcd packages (policy/etcdsync,
// policy/etcdadmin) share: a real etcd server in process for the whole
// test binary, a client, a prefix of its own per test, a Syncer run in
// the background, and a backup of an etcd's data directory taken and put
// back (etcd restored from a backup). Only tests import it (TestArchitecture).
package etcdtest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Main starts one etcd server in a temporary folder, sets *shared to it,
// runs the tests, and exits with their code after closing the server:
// the TestMain of a package whose tests share a server, each under its
// own prefix.
func Main(m *testing.M, shared **devetcd.Server) {
	dir, err := os.MkdirTemp("", "etcd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *shared, err = devetcd.Start(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	(*shared).Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

var prefixes atomic.Int64

// NewPrefix returns a deployment prefix no other test uses.
func NewPrefix(t testing.TB) string {
	return fmt.Sprintf("/test/%s-%d", t.Name(), prefixes.Add(1))
}

// Dial returns a client of e, closed when the test ends.
func Dial(t testing.TB, e *devetcd.Server) *clientv3.Client {
	t.Helper()
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// RunSyncer starts a Syncer with cfg (its logger silent unless set) on a
// new Store; stop cancels its Run and waits for it, and runs when the
// test ends too.
func RunSyncer(t testing.TB, cli *clientv3.Client, cfg etcdsync.SyncConfig) (s *etcdsync.Syncer, store *policy.Store, stop func()) {
	t.Helper()
	store = &policy.Store{}
	if cfg.Logger.GetLevel() == zerolog.TraceLevel {
		cfg.Logger = zerolog.Nop()
	}
	s = etcdsync.NewSyncer(cli, store, cfg)
	stop = StartRun(t, s)
	t.Cleanup(stop)
	return s, store, stop
}

// StartRun runs s.Run in the background; the returned func cancels it and
// waits for it to return.
func StartRun(t testing.TB, s *etcdsync.Syncer) func() {
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

// WaitFor polls cond until it holds, failing the test after timeout. It
// waits for an event; it asserts nothing about speed.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// AtRevision waits until store holds a snapshot at rev or later and
// returns it.
func AtRevision(t testing.TB, store *policy.Store, rev int64) *policy.Snapshot {
	t.Helper()
	WaitFor(t, 20*time.Second, fmt.Sprintf("snapshot at revision %d", rev), func() bool {
		s := store.Load()
		return s != nil && s.Revision >= rev
	})
	return store.Load()
}
