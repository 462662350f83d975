package collector

import (
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
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
