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

// A follower started fresh (no witness kept) that stored events, and
// whose etcd is restored from a backup taken before them and written past
// them before its first check, finds the fork: that check reads the first
// event it stored (Witnesses.First), which the restored history does not
// hold. Before, a check with no confirmed witness took the last event
// stored as confirmed unread, an event of the restored etcd by then, and
// the fork was never found.
func TestFollowFreshFindsEtcdRestoredBeforeItsFirstCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	edir := t.TempDir()
	e, err := devetcd.Start(edir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli := dial(t, e)
	prefix := newPrefix(t)
	push(t, New(cli, prefix), examplePolicy(t))
	backup := etcdtest.Backup(t, e, edir)

	proxy := etcdtest.NewPauseProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	pcli, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pcli.Close() })
	a := New(pcli, prefix)
	first := writeKeyCreate(t, a, "ops-alice")
	var mu sync.Mutex
	var kept Witnesses
	keep := func(w Witnesses) error { mu.Lock(); kept = w; mu.Unlock(); return nil }
	f := followFrom(t, a, 0, Witnesses{}, keep)
	f.waitAt(t, first)

	proxy.Pause() // the follower reads nothing while etcd is restored and written past
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
		if resp.Header.Revision > first+2 {
			break
		}
	}
	// Under events/: an event under events-by/ written past the follower's
	// read of etcd's authentication makes it check etcd's history first.
	past := writeKeyCreate(t, New(cli, prefix), "")
	proxy.Resume()
	rewound := func() bool {
		for _, ev := range f.events() {
			if ev.Action == ActionEventsRewind {
				return true
			}
		}
		return false
	}
	// A check either finds the fork or confirms an event of the restored
	// etcd as the history followed (keep is told it).
	waitFor(t, 30*time.Second, "an events.rewind, or a check confirming the key.create written past", func() bool {
		mu.Lock()
		confirmed := kept.Confirmed.Revision
		mu.Unlock()
		return rewound() || confirmed >= past
	})
	f.stop()
	if !rewound() {
		t.Errorf("etcd restored under a fresh follower and written past the events it stored: no %s; a check confirmed the restored etcd's event at revision %d instead", ActionEventsRewind, past)
	}
}
