package etcdadmin

import (
	"context"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
)

// followedKeyCreate makes a key as etcd user user through a, follows a
// from 0 and returns the followed key.create event.
func followedKeyCreate(t *testing.T, a *Admin, user string) Event {
	t.Helper()
	rev := writeKeyCreate(t, a, user)
	return keyCreateAt(t, followedAt(t, a, rev), rev)
}

// writeKeyCreate makes a key as etcd user user through a and returns the
// revision its record was written at.
func writeKeyCreate(t *testing.T, a *Admin, user string) int64 {
	t.Helper()
	push(t, a, examplePolicy(t))
	if _, _, err := a.CreateKey(context.Background(), "acme-hris", 0, Meta{Actor: "alice", Ticket: "T-1", EtcdUser: user}); err != nil {
		t.Fatal(err)
	}
	resp, err := a.cli.Get(context.Background(), a.k.KeysDir(), clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("the key record: %v %v", resp, err)
	}
	return resp.Header.Revision // CreateKey's transaction was the last write
}

// keyCreateAt returns the key.create event of evs at revision rev.
func keyCreateAt(t *testing.T, evs []Event, rev int64) Event {
	t.Helper()
	for _, e := range evs {
		if e.Action == ActionKeyCreate && e.Revision == rev {
			return e
		}
	}
	t.Fatalf("no key.create followed at revision %d", rev)
	return Event{}
}

// authOnSinceStart is the AuthMark of an etcd whose authentication has
// been on since before its first write and never turned off (authEtcd's):
// what a follower started before any write would have kept.
func authOnSinceStart(t *testing.T, a *Admin) AuthMark {
	t.Helper()
	resp, err := a.cli.AuthStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return AuthMark{Revision: resp.AuthRevision}
}

// wantAuthOff fails t unless e, a key.create etcd user user wrote under
// events-by/user/, binds no etcd user and is flagged FlagAuthOff.
func wantAuthOff(t *testing.T, e Event, user string) {
	t.Helper()
	if e.Details[DetailEtcdUser] != "" || e.Details[DetailClaimedEtcdUser] != user || !strings.HasPrefix(e.Unverified, FlagAuthOff) {
		t.Errorf("key.create under events-by/%s/ written while etcd authentication was off: etcd user %q, claimed %q, unverified %q; want none bound, %s claimed, flagged %s",
			user, e.Details[DetailEtcdUser], e.Details[DetailClaimedEtcdUser], e.Unverified, user, FlagAuthOff)
	}
}

// setAuth turns the authentication of root's etcd on or off.
func setAuth(t *testing.T, root *clientv3.Client, on bool) {
	t.Helper()
	var err error
	if on {
		_, err = root.AuthEnable(context.Background())
	} else {
		_, err = root.AuthDisable(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// An event written under events-by/ops-alice/ while etcd's authentication
// was off, and followed only after it was on again, binds no one: anyone
// could write the directory then, and a follower that did not see
// authentication on before the write cannot prove it was. Before, the
// follower bound it to ops-alice, as authentication was on when it read
// it.
func TestFollowUnprovenForAnEventWrittenWhileAuthWasOff(t *testing.T) {
	t.Parallel()
	root := authEtcd(t)
	a := New(root, newPrefix(t))
	setAuth(t, root, false)
	rev := writeKeyCreate(t, a, "ops-alice")
	setAuth(t, root, true)
	f := follow(t, a, 0)
	f.waitAt(t, rev)
	f.stop()
	wantAuthOff(t, keyCreateAt(t, f.events(), rev), "ops-alice")
}

// A follower that found authentication on, running while it is turned off,
// an event written and authentication turned on again, binds no one by
// that event, however soon it reads it: it reads etcd's authentication
// again for an event under events-by/ written past its last read, and a
// read finding it on at another auth revision proves nothing of the
// revisions before (etcd moves it on when authentication is turned off).
// Before, the follower used what its last check (every FollowCheck) found.
func TestFollowUnprovenForAnEventWrittenWhileAuthWasOffBetweenChecks(t *testing.T) {
	t.Parallel()
	root := authEtcd(t)
	a := New(root, newPrefix(t))
	push(t, a, examplePolicy(t))
	f := followFrom(t, a, 0, Witnesses{Auth: authOnSinceStart(t, a)}, nil)
	setAuth(t, root, false)
	rev := writeKeyCreate(t, a, "ops-alice")
	setAuth(t, root, true)
	f.waitAt(t, rev)
	f.stop()
	wantAuthOff(t, keyCreateAt(t, f.events(), rev), "ops-alice")
}

// A follower restarted with the AuthMark it kept binds an event written
// while it was down only when etcd's authentication stayed on: turned off
// and on again in between, it moved etcd's auth revision on, and the
// event is unproven; left on, it is bound.
func TestFollowRestartedBindsOnlyWhileAuthStayedOn(t *testing.T) {
	t.Parallel()
	root := authEtcd(t)
	a := New(root, newPrefix(t))
	var mu sync.Mutex
	var kept Witnesses
	keep := func(w Witnesses) error { mu.Lock(); kept = w; mu.Unlock(); return nil }
	rev := writeKeyCreate(t, a, "root")
	f := followFrom(t, a, 0, Witnesses{Auth: authOnSinceStart(t, a)}, keep)
	f.waitAt(t, rev)
	f.stop()
	mu.Lock()
	mark := kept.Auth
	mu.Unlock()
	if mark.Revision == 0 {
		t.Fatalf("kept AuthMark %+v; want one", mark)
	}
	rev = writeKeyCreate(t, a, "root")
	f = followFrom(t, a, rev-1, Witnesses{Auth: mark}, nil)
	f.waitAt(t, rev)
	f.stop()
	if e := keyCreateAt(t, f.events(), rev); e.Details[DetailEtcdUser] != "root" || e.Unverified != "" {
		t.Errorf("key.create written while authentication stayed on: etcd user %q, unverified %q; want root, verified", e.Details[DetailEtcdUser], e.Unverified)
	}
	setAuth(t, root, false)
	rev = writeKeyCreate(t, a, "root")
	setAuth(t, root, true)
	f = followFrom(t, a, rev-1, Witnesses{Auth: mark}, nil)
	f.waitAt(t, rev)
	f.stop()
	wantAuthOff(t, keyCreateAt(t, f.events(), rev), "root")
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
