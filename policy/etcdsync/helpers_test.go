package etcdsync_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
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
	cli, k, a := examplePushed(t)
	return cli, string(k), a, runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k)})
}

// examplePushed pushes the example policy under a new prefix of the
// shared etcd, with no Syncer.
func examplePushed(t testing.TB) (*clientv3.Client, etcdsync.Layout, *etcdadmin.Admin) {
	t.Helper()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := etcdadmin.New(cli, prefix)
	push(t, a, examplePolicy(t))
	return cli, etcdsync.NewLayout(prefix), a
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

// startRun runs s.Run in the background; the returned func cancels it and
// waits for it to return.
func startRun(t testing.TB, s *etcdsync.Syncer) func() { return etcdtest.StartRun(t, s) }

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

// syncedWithFile starts an etcd holding the example policy and a Syncer
// keeping its last-known-good file in dir, and waits for it to apply the
// policy (revision 1).
func syncedWithFile(t *testing.T, dir string) (*devetcd.Server, *clientv3.Client, *etcdadmin.Admin, *running) {
	t.Helper()
	e := ownEtcd(t)
	cli := dial(t, e)
	a := etcdadmin.New(cli, "")
	push(t, a, examplePolicy(t))
	first := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	first.atRevision(t, 1)
	return e, cli, a, first
}

// readsKV counts the Syncer's reads of the whole state (ReadState: a
// transaction of etcdsync.StateOps) made through it, with the revision
// each was answered at. The Syncer installs what a read brings before it
// makes the next one, so two reads answered at a revision or later mean
// that one read at least that recent has been applied: what a test that
// checks a state stays in force over the re-reads waits for, instead of
// a time that a loaded machine may spend without a re-read.
type readsKV struct {
	clientv3.KV
	ops []clientv3.Op // StateOps of the deployment

	mu   sync.Mutex // guards revs
	revs []int64    // the revisions of the reads answered, in order
}

// readCounted dials e for a Syncer of the deployment under prefix whose
// whole-state reads the returned readsKV counts.
func readCounted(t *testing.T, e *devetcd.Server, prefix string) (*clientv3.Client, *readsKV) {
	t.Helper()
	cli := dial(t, e)
	kv := &readsKV{KV: cli.KV, ops: etcdsync.StateOps(etcdsync.NewLayout(prefix))}
	cli.KV = kv
	return cli, kv
}

func (k *readsKV) Txn(ctx context.Context) clientv3.Txn { return &readsTxn{Txn: k.KV.Txn(ctx), k: k} }

// readsTxn is a transaction through a readsKV: it counts itself when its
// Then is the whole state's read.
type readsTxn struct {
	clientv3.Txn
	k     *readsKV
	state bool
}

func (x *readsTxn) If(cs ...clientv3.Cmp) clientv3.Txn   { x.Txn = x.Txn.If(cs...); return x }
func (x *readsTxn) Else(ops ...clientv3.Op) clientv3.Txn { x.Txn = x.Txn.Else(ops...); return x }

func (x *readsTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	x.Txn = x.Txn.Then(ops...)
	x.state = len(ops) == len(x.k.ops)
	for i := 0; x.state && i < len(ops); i++ {
		x.state = ops[i].IsGet() && string(ops[i].KeyBytes()) == string(x.k.ops[i].KeyBytes()) && string(ops[i].RangeBytes()) == string(x.k.ops[i].RangeBytes())
	}
	return x
}

func (x *readsTxn) Commit() (*clientv3.TxnResponse, error) {
	resp, err := x.Txn.Commit()
	if err == nil && x.state {
		x.k.mu.Lock()
		x.k.revs = append(x.k.revs, resp.Header.Revision)
		x.k.mu.Unlock()
	}
	return resp, err
}

// since returns how many reads were answered at rev or later.
func (k *readsKV) since(rev int64) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, r := range k.revs {
		if r >= rev {
			n++
		}
	}
	return n
}

// applied waits until a whole-state read answered at rev or later has
// been applied (two answered: the first installed before the second).
func (k *readsKV) applied(t testing.TB, rev int64) { t.Helper(); k.appliedN(t, rev, 1) }

// appliedN waits until n whole-state reads answered at rev or later have
// been applied (n+1 answered).
func (k *readsKV) appliedN(t testing.TB, rev int64, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d reads of the whole state at revision %d or later applied", n, rev), func() bool { return k.since(rev) > n })
}
