package etcdadmin

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
)

// A follower that found etcd's authentication on at an auth revision
// proves nothing of the history of an etcd restored under it: a backup
// taken before authentication was turned on holds it off at the same
// auth revision (turning it on does not move the revision, and the
// restore turns it off without AuthDisable), so events-by/ops-alice/
// written on the restored etcd while it was off, and authentication
// turned on again before the follower read it, must bind no one. Before,
// the follower kept the mark of the history etcd went back from, and
// bound the event to ops-alice.
func TestFollowUnprovenForAnEventWrittenOnARestoredEtcdWithAuthOff(t *testing.T) {
	t.Parallel()
	followRestoredAuthOff(t, false, false)
}

// A collector down while etcd is restored from a backup taken with its
// authentication off, written past the revision followed while it was
// off and authentication turned on again, starts with the AuthMark it
// kept at the same auth revision: its first check finds etcd's history
// forked (the confirmed witness gone), and the events of the restored
// etcd it follows again bind no one. Before, the kept mark bound
// events-by/ops-alice/ written while authentication was off.
func TestFollowRestartedUnprovenOnARestoredEtcdWithAuthOff(t *testing.T) {
	t.Parallel()
	followRestoredAuthOff(t, true, true)
}

// A follower running while etcd is restored from a backup taken with its
// authentication off, written past the revision followed while it was
// off and authentication turned on again, passes an event of the
// restored etcd on only once a check of etcd's history (which finds the
// fork) ran: it binds no one then. Before, the watch passed it on, bound
// by the mark proven on the history etcd went back from, before the
// next check found the fork.
func TestFollowUnprovenForAnEventWrittenPastOnARestoredEtcdWithAuthOff(t *testing.T) {
	t.Parallel()
	followRestoredAuthOff(t, false, true)
}

// followRestoredAuthOff runs TestFollowUnprovenForAnEventWrittenOnARestoredEtcdWithAuthOff,
// or, restarted, TestFollowRestartedUnprovenOnARestoredEtcdWithAuthOff,
// or, past, TestFollowUnprovenForAnEventWrittenPastOnARestoredEtcdWithAuthOff.
func followRestoredAuthOff(t *testing.T, restarted, past bool) {
	ctx := context.Background()
	edir := t.TempDir()
	e, err := devetcd.Start(edir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli := dial(t, e) // no credentials: writes while authentication is off
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "pw-root"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	prefix := newPrefix(t)
	open := New(cli, prefix)
	push(t, open, examplePolicy(t))
	backup := etcdtest.Backup(t, e, edir) // authentication off, at the auth revision it is turned on at
	setAuth(t, cli, true)

	proxy := etcdtest.NewPauseProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	root, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.Addr}, Username: "root", Password: "pw-root"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	a := New(root, prefix)
	first := writeKeyCreate(t, a, "root")
	var mu sync.Mutex
	var kept Witnesses
	keep := func(w Witnesses) error { mu.Lock(); kept = w; mu.Unlock(); return nil }
	f := followFrom(t, a, 0, Witnesses{}, keep)
	f.waitAt(t, first)
	last := first
	for range 8 { // the follower reads etcd well past the revision it found authentication on at
		last = writeKeyCreate(t, a, "root")
	}
	f.waitAt(t, last)
	if past {
		waitFor(t, 20*time.Second, "a confirmed witness and an AuthMark kept", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return kept.Confirmed.Revision > first && kept.Auth.Revision != 0
		})
	}
	if restarted {
		f.stop()
	}

	proxy.Pause() // the follower reads nothing while etcd is restored, written and its authentication turned on
	e.Stop()
	etcdtest.PutBack(t, backup, edir)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := cli.Put(ctx, prefix+"/pad", "x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Revision >= first && (!past || resp.Header.Revision > last) {
			break
		}
	}
	forged := writeKeyCreate(t, open, "ops-alice")
	if !past && forged >= last {
		t.Fatalf("the event written on the restored etcd is at revision %d, not below %d, the revision followed before", forged, last)
	}
	setAuth(t, cli, true)
	proxy.Resume()
	if restarted {
		mu.Lock()
		w := kept
		mu.Unlock()
		f = followFrom(t, a, last, w, nil)
	}

	waitFor(t, 30*time.Second, "the key.create written on the restored etcd", func() bool {
		for _, ev := range f.events() {
			if ev.Action == ActionKeyCreate && ev.Revision == forged && ev.Details[DetailClaimedEtcdUser]+ev.Details[DetailEtcdUser] == "ops-alice" {
				return true
			}
		}
		return false
	})
	f.stop()
	for _, ev := range f.events() {
		if ev.Action == ActionKeyCreate && ev.Revision == forged && ev.Details[DetailClaimedEtcdUser]+ev.Details[DetailEtcdUser] == "ops-alice" {
			wantAuthOff(t, ev, "ops-alice")
		}
	}
}
