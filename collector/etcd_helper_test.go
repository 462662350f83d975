package collector

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// etcdClient starts an etcd server of the test's own, in process on
// loopback, and returns a client of it; both end with the test.
func etcdClient(t *testing.T) *clientv3.Client {
	t.Helper()
	_, _, cli := etcdServer(t)
	return cli
}

// etcdServer is etcdClient with the server and its data directory, for a
// test that stops it or restores a backup of it.
func etcdServer(t *testing.T) (*devetcd.Server, string, *clientv3.Client) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "etcd")
	e, err := devetcd.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return e, dir, cli
}

// checksKV counts the follower's checks of etcd (FollowEvents reads the
// events directory, count only, at each FollowCheck) made through it.
type checksKV struct {
	clientv3.KV
	events string // the events directory
	n      atomic.Int64
}

func (k *checksKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	resp, err := k.KV.Get(ctx, key, opts...)
	if err == nil && key == k.events && clientv3.OpGet(key, opts...).IsCountOnly() {
		k.n.Add(1)
	}
	return resp, err
}

// checkCounted returns an Admin of prefix on its own client of e for a
// follower, whose checks the returned checksKV counts.
func checkCounted(t *testing.T, e *devetcd.Server, prefix string) (*etcdadmin.Admin, *checksKV) {
	t.Helper()
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	kv := &checksKV{KV: cli.KV, events: etcdsync.NewLayout(prefix).EventsDir()}
	cli.KV = kv
	return etcdadmin.New(cli, prefix), kv
}

// more waits until n more checks were made: what a test that checks
// nothing else is stored waits for, rather than a time a loaded machine
// may spend with none.
func (k *checksKV) more(t *testing.T, n int64) {
	t.Helper()
	want := k.n.Load() + n
	waitFor(t, strconv.FormatInt(n, 10)+" more checks of etcd by the follower", func() bool { return k.n.Load() >= want })
}
