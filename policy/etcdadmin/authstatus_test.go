package etcdadmin

import (
	"context"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
)

// followedKeyCreate makes a key as etcd user user through a, follows a
// from 0 and returns the followed key.create event.
func followedKeyCreate(t *testing.T, a *Admin, user string) Event {
	t.Helper()
	push(t, a, examplePolicy(t))
	if _, _, err := a.CreateKey(context.Background(), "acme-hris", 0, Meta{Actor: "alice", Ticket: "T-1", EtcdUser: user}); err != nil {
		t.Fatal(err)
	}
	resp, err := a.cli.Get(context.Background(), a.k.KeysDir(), clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the key record: %v %v", resp, err)
	}
	rev := resp.Kvs[0].ModRevision
	for _, e := range followedAt(t, a, rev) {
		if e.Action == ActionKeyCreate {
			return e
		}
	}
	t.Fatalf("no key.create followed at revision %d", rev)
	return Event{}
}

// Without etcd authentication anyone writes any events-by/<user>/
// directory, so the follower (which asks etcd, AuthStatus) binds no etcd
// user by it: the key.create under events-by/ops-alice/ names her only
// as a claim, flagged event.etcd_auth_off. Before, the follower never
// asked, and the trail named ops-alice as bound by etcd's authentication
// that was off.
func TestFollowBindsNoUserWithoutEtcdAuth(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t)) // the shared etcd has no authentication
	if on, err := a.AuthEnabled(context.Background()); err != nil || on {
		t.Fatalf("AuthEnabled on the shared etcd = %v, %v; want off", on, err)
	}
	e := followedKeyCreate(t, a, "ops-alice")
	if e.Details[DetailEtcdUser] != "" || e.Details[DetailClaimedEtcdUser] != "ops-alice" || !strings.HasPrefix(e.Unverified, FlagAuthOff) {
		t.Errorf("key.create under events-by/ops-alice/ without etcd authentication: etcd user %q, claimed %q, unverified %q; want none bound, ops-alice claimed, flagged %s",
			e.Details[DetailEtcdUser], e.Details[DetailClaimedEtcdUser], e.Unverified, FlagAuthOff)
	}
}

// With etcd authentication on, the same event is bound to the directory's
// user and not flagged.
func TestFollowBindsTheDirectoryWithEtcdAuth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(authEtcd(t), newPrefix(t))
	if on, err := a.AuthEnabled(ctx); err != nil || !on {
		t.Fatalf("AuthEnabled = %v, %v; want on", on, err)
	}
	ev := followedKeyCreate(t, a, "root")
	if ev.Details[DetailEtcdUser] != "root" || ev.Unverified != "" {
		t.Errorf("key.create under events-by/root/ with etcd authentication: etcd user %q, unverified %q; want root, verified", ev.Details[DetailEtcdUser], ev.Unverified)
	}
}

// authEtcd starts an etcd of the test's own with authentication on and
// returns a client of its root user, which etcd lets write every key
// (any user's events-by/ directory among them): the tests of what a
// directory binds, which etcd's authentication enforces.
func authEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx := context.Background()
	cli := dial(t, e)
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "pw-root"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	root, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), Username: "root", Password: "pw-root"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}
