package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The store's memory of the etcd events it holds is bounded, against a
// real etcd and a real store on disk: 5,000 events (more revisions than
// eventWindow) are each stored once, the store keeps at most eventWindow
// of their keys (it kept every one, and rebuilt them all from the trail
// at each start), under the cluster's id; a restart that lost its resume
// file replays everything and stores nothing twice, events written while
// the collector was down are stored after a restart, none lost, and the
// events of a new etcd cluster (another id, revisions from 1 again, below
// the first's) are stored, not taken for the first cluster's.
func TestForwardEventsMemoryBounded(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	const prefix = "/marks-test"
	admin := etcdadmin.New(cli, prefix)
	ctx := context.Background()
	put := func(from, n int) { t.Helper(); putEvents(t, cli, prefix, from, n) }
	put(0, 5000)
	resp, err := cli.Get(ctx, prefix+"/none")
	if err != nil {
		t.Fatal(err)
	}
	cluster := resp.Header.ClusterId

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	// run returns the most event keys the store holds for one cluster.
	run := func(want int) (keys int, clusters []uint64) {
		t.Helper()
		st, err := OpenStore(dir, StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); ForwardEvents(cctx, admin, st, revFile, zerolog.Nop()) }()
		waitFor(t, "events stored", func() bool { return len(storedEvents(t, dir)) >= want })
		// Give a replay the time to store what it would store twice.
		waitFor(t, "resume revision", func() bool { r, _ := ReadResumeRevision(revFile); return r >= resp.Header.Revision-1 })
		cancel()
		wg.Wait()
		st.mu.Lock()
		defer st.mu.Unlock()
		for id, c := range st.seenEvents.clusters {
			keys = max(keys, len(c.keys))
			clusters = append(clusters, id)
		}
		return keys, clusters
	}
	// count counts the events stored by key, and the events.rewind
	// events apart.
	rewinds := 0
	count := func() map[string]int {
		m := map[string]int{}
		rewinds = 0
		for _, e := range storedEvents(t, dir) {
			if e.Action == etcdadmin.ActionEventsRewind {
				rewinds++
				continue
			}
			m[e.Key]++
		}
		return m
	}
	check := func(when string, want int) {
		t.Helper()
		m := count()
		if len(m) != want {
			t.Errorf("%s: %d events stored, want %d", when, len(m), want)
		}
		for k, n := range m {
			if n != 1 {
				t.Errorf("%s: event %s stored %d times", when, k, n)
			}
		}
	}
	for _, step := range []struct {
		when   string
		before func()
		want   int
	}{
		{"first run", func() {}, 5000},
		{"restart without a resume file", func() { os.Remove(revFile) }, 5000},
		{"restart after events written while down", func() {
			put(5000, 300)
			r, err := cli.Get(ctx, prefix+"/none")
			if err != nil {
				t.Fatal(err)
			}
			resp = r
		}, 5300},
		{"a new etcd cluster", func() {
			cli = etcdClient(t)
			admin = etcdadmin.New(cli, prefix)
			put(6000, 20)
			r, err := cli.Get(ctx, prefix+"/none")
			if err != nil {
				t.Fatal(err)
			}
			resp = r
			os.Remove(revFile)
		}, 5320},
	} {
		step.before()
		keys, clusters := run(step.want)
		check(step.when, step.want)
		wantClusters, wantRewinds := 1, 0
		if step.want == 5320 {
			// The new cluster answers below the last event stored: to
			// the follower, which cannot tell it from etcd gone back,
			// etcd went back, and an events.rewind event says so.
			wantClusters, wantRewinds = 2, 1
		}
		if rewinds != wantRewinds {
			t.Errorf("%s: %d events.rewind events stored, want %d", step.when, rewinds, wantRewinds)
		}
		if keys > 4096 || len(clusters) != wantClusters || !slices.Contains(clusters, cluster) || slices.Contains(clusters, 0) {
			t.Errorf("%s: the store remembers up to %d event keys per cluster, under clusters %x; want at most 4096 (the README's bound), under etcd's cluster %x (and the new one's)", step.when, keys, clusters, cluster)
		}
	}
}

// putEvents writes n events under prefix's events/, numbered from from,
// 16 writers at a time.
func putEvents(t *testing.T, cli *clientv3.Client, prefix string, from, n int) {
	t.Helper()
	putEventsIn(t, cli, prefix+"/events", from, n)
}

// putEventsIn is putEvents under dir, an events directory: prefix+"/events"
// or an etcd user's under events-by/.
func putEventsIn(t *testing.T, cli *clientv3.Client, dir string, from, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Go(func() {
			for i := from + w; i < from+n; i += 16 {
				v := fmt.Sprintf(`{"time":"2026-01-01T00:00:00Z","actor":"t","action":"policy.push","target":"t%d"}`, i)
				if _, err := cli.Put(context.Background(), fmt.Sprintf("%s/%020d-e", dir, i), v); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
