package main

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// etcdClient starts a real etcd server in process and returns it with a
// client of it; both close when the test ends.
func etcdClient(t *testing.T) (*devetcd.Server, *clientv3.Client) {
	t.Helper()
	e := startEtcd(t)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return e, cli
}

// etcdAdmin starts a real etcd server in process and returns it with an
// admin client under prefix; both close when the test ends.
func etcdAdmin(t *testing.T, prefix string) (*devetcd.Server, *etcdadmin.Admin) {
	t.Helper()
	e, cli := etcdClient(t)
	return e, etcdadmin.New(cli, prefix)
}
