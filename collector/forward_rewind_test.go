package collector

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestForwardEventsFollowsEtcdBack: etcd restored from a backup answers
// below the revision the collector's follower had stored up to, and the
// watch it resumed there is in etcd's future. A suspension written on
// the restored cluster, at a revision already followed, never reached the
// trail, while the running follower and one restarted from its resume
// file waited in silence. Now the follower finds etcd gone back (live, and
// at a restart), stores a flagged events.rewind event and reads etcd's
// history again: the new event is stored, and none stored before is
// stored twice.
func TestForwardEventsFollowsEtcdBack(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	e, edir, cli := etcdServer(t)
	const prefix = "/rewind-test"
	admin := etcdadmin.New(cli, prefix)
	ctx := context.Background()
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	meta := etcdadmin.Meta{Actor: "alice", Reason: "test", Ticket: "CHG-1"}
	if _, err := admin.PushPolicy(ctx, doc, 0, meta); err != nil {
		t.Fatal(err)
	}
	backup := etcdtest.Backup(t, e, edir)
	restore := func() {
		t.Helper()
		e.Stop()
		etcdtest.PutBack(t, backup, edir)
		if err := e.Start(); err != nil {
			t.Fatal(err)
		}
	}
	// Activity after the backup takes etcd's revision well past it.
	for _, c := range []string{"acme-hris", "globex-bi"} {
		if _, err := admin.Suspend(ctx, c, time.Hour, meta); err != nil {
			t.Fatal(err)
		}
		if err := admin.Resume(ctx, c, meta); err != nil {
			t.Fatal(err)
		}
	}

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	fadmin, checks := checkCounted(t, e, prefix)
	follow := func(st *Store) func() {
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { ForwardEvents(cctx, fadmin, st, revFile, zerolog.Nop()) })
		return func() { cancel(); wg.Wait() }
	}
	actions := func() []string {
		var out []string
		for _, ev := range storedEvents(t, dir) {
			out = append(out, ev.Action+" "+ev.Target)
		}
		return out
	}
	stop := follow(st)
	waitFor(t, "the events before the restore stored", func() bool { return len(storedEvents(t, dir)) == 5 })

	// 1. Restored under the running follower, then a suspension written.
	restore()
	if _, err := admin.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the suspension written after the restore stored", func() bool {
		return slices.Contains(actions(), "client.suspend acme-hris") && len(storedEvents(t, dir)) == 7
	})
	evs := storedEvents(t, dir)
	rw := evs[5]
	if rw.Action != etcdadmin.ActionEventsRewind || rw.Unverified == "" || !strings.Contains(rw.Unverified, "went backwards") {
		t.Errorf("event after the restore: %s %q; want a flagged %s", rw.Action, rw.Unverified, etcdadmin.ActionEventsRewind)
	}
	if last := evs[6]; last.Action != etcdadmin.ActionClientSuspend || last.Unverified != "" {
		t.Errorf("last event %s %s %q; want the verified suspension", last.Action, last.Target, last.Unverified)
	}

	// 2. Restored while the collector is down: its resume file is past
	// etcd's revision at the restart (the follower stored more first).
	if _, err := admin.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	if err := admin.Resume(ctx, "globex-bi", meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the events after the first restore stored", func() bool { return len(storedEvents(t, dir)) == 9 })
	stop()
	restore()
	if _, err := admin.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	stop = follow(st)
	defer stop()
	waitFor(t, "the suspension written while the collector was down stored", func() bool {
		return len(storedEvents(t, dir)) == 11
	})
	checks.more(t, 3) // more checks: nothing else
	got := actions()
	if len(got) != 11 || got[9] != etcdadmin.ActionEventsRewind+" "+prefix+"/events/" || got[10] != "client.suspend globex-bi" {
		t.Errorf("stored %q; want 11 events (each once), the last a rewind and the suspension written after it", got)
	}
}

// TestForwardEventsFollowsEtcdBackPastTheWindow: the store takes every
// revision of a cluster below its last eventWindow as stored
// (eventmarks.go), and etcd restored from a backup more than that many
// revisions old writes its new events below them: each was taken for one
// already stored and dropped, the trail silent about every change made
// after the restore. The events.rewind event brings the cluster's floor
// down to the revision etcd went back to, also when the store rebuilds
// its memory from the trail at a restart: the new events are stored, and
// no event of the backup's history is stored twice.
func TestForwardEventsFollowsEtcdBackPastTheWindow(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	e, edir, cli := etcdServer(t)
	const prefix = "/rewind-window"
	admin := etcdadmin.New(cli, prefix)
	putEvents(t, cli, prefix, 0, 10)
	backup := etcdtest.Backup(t, e, edir)
	putEvents(t, cli, prefix, 10, eventWindow+500)
	total := 10 + eventWindow + 500

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	follow := func() func() { return followInto(t, admin, dir, key) }
	stored := func() (map[string]int, int) { return storedKeys(t, dir) }
	has := func(want, rewinds int) func() bool {
		return func() bool { k, r := stored(); return len(k) == want && r == rewinds }
	}
	stop := follow()
	waitFor(t, "the events before the restore stored", has(total, 0))

	e.Stop()
	etcdtest.PutBack(t, backup, edir)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	putEvents(t, cli, prefix, 100000, 3) // revisions the old history stored thousands of events past
	waitFor(t, "the events written after the restore stored", has(total+3, 1))

	// A restart rebuilds the store's memory from the trail, rewind and
	// all: without its resume file the follower reads etcd's history
	// again, and stores the events written meanwhile, and only those.
	stop()
	os.Remove(revFile)
	putEvents(t, cli, prefix, 200000, 2)
	stop = follow()
	defer stop()
	waitFor(t, "the events written while the collector was down stored", has(total+5, 1))
	resp, err := cli.Get(context.Background(), prefix+"/none")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replay read to etcd's revision", func() bool { r, _ := ReadResumeRevision(revFile); return r >= resp.Header.Revision-1 })
	keys, rewinds := stored()
	if len(keys) != total+5 || rewinds != 1 {
		t.Errorf("%d events and %d rewinds stored; want %d and 1", len(keys), rewinds, total+5)
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("event %s stored %d times", k, n)
		}
	}
}

// TestForwardEventsFollowsEtcdBackWrittenPast: etcd restored from a
// backup while the collector was down, then written past the revision
// the collector had stored up to before it came back. Its revision is
// above the resume file's, so comparing revisions found nothing, and the
// follower watched from there: the event written on the restored etcd
// below that revision never reached the trail. The follower now reads
// the key of the last event the store holds at its revision, finds
// etcd's history without it, stores a flagged events.rewind event naming
// it, and reads etcd's history again: the new event is stored, and none
// stored before is stored twice.
func TestForwardEventsFollowsEtcdBackWrittenPast(t *testing.T) {
	t.Parallel()
	testForwardEventsWrittenPast(t, false, "events")
}

// TestForwardEventsFollowsEtcdBackCompactedPast is
// TestForwardEventsFollowsEtcdBackWrittenPast with the restored etcd
// compacted past the last event stored before the collector came back:
// the event's key, which the restored etcd never wrote, was gone as a key
// deleted since would be, the check moved on, and the event written on
// the restored etcd below the revision followed never reached the trail.
// Nothing deletes an event, so its key gone is etcd gone back.
func TestForwardEventsFollowsEtcdBackCompactedPast(t *testing.T) {
	t.Parallel()
	testForwardEventsWrittenPast(t, true, "events")
}

// The same, the events before the restore written under a person's own
// directory, events-by/ops-alice/, as the CLI writes them under the
// per-person roles: the last one stored, gone from a history compacted
// past it, was taken for one she deleted, and the check moved on. etcd
// gone back went unseen and the event the restored etcd wrote below the
// revision followed never reached the trail. A key gone from events-by/
// is now taken for her delete only when the follower passed that delete
// on (event.deleted).
func TestForwardEventsFollowsEtcdBackCompactedPastAPersonsEvent(t *testing.T) {
	t.Parallel()
	testForwardEventsWrittenPast(t, true, "events-by/ops-alice")
}

func testForwardEventsWrittenPast(t *testing.T, compact bool, events string) {
	e, edir, cli := etcdServer(t)
	prefix := "/rewind-past"
	admin := etcdadmin.New(cli, prefix)
	ctx := context.Background()
	putEventsIn(t, cli, prefix+"/"+events, 0, 5)
	backup := etcdtest.Backup(t, e, edir)
	putEventsIn(t, cli, prefix+"/"+events, 5, 5) // lost by the restore

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	follow := func() func() { return followInto(t, admin, dir, key) }
	stop := follow()
	waitFor(t, "the events before the restore stored", func() bool { return len(storedEvents(t, dir)) == 10 })
	stop()
	resumed, err := ReadResumeRevision(revFile)
	if err != nil {
		t.Fatal(err)
	}

	rev := forkEtcd(t, e, edir, backup, cli, prefix, 100, 1, resumed+2) // an event below the resume revision
	if compact {
		if _, err := cli.Compact(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}

	stop = follow()
	defer stop()
	newKey := fmt.Sprintf("%s/events/%020d-e", prefix, 100)
	var evs []Event
	waitFor(t, "the event written on the restored etcd stored", func() bool {
		evs = storedEvents(t, dir)
		return slices.ContainsFunc(evs, func(ev Event) bool { return ev.Key == newKey })
	})
	time.Sleep(300 * time.Millisecond) // a replay storing twice would have by now
	evs = storedEvents(t, dir)
	seen := map[string]int{}
	rewinds, gaps := 0, 0
	for _, ev := range evs {
		switch ev.Action {
		case etcdadmin.ActionEventsRewind:
			rewinds++
			if !strings.Contains(ev.Unverified, "no longer holds the event") || !strings.Contains(string(ev.Details), "forked_revision") {
				t.Errorf("rewind event %q %s: want it to name the event etcd's history no longer holds", ev.Unverified, ev.Details)
			}
			continue
		case etcdadmin.ActionEventsGap:
			gaps++ // the history read again is compacted
			continue
		}
		seen[ev.Key]++
	}
	if len(seen) != 11 || rewinds != 1 || (gaps > 0) != compact {
		t.Errorf("%d events, %d rewinds and %d gaps stored; want 11 (the 10 before, the new one), 1, and gaps only when compacted (%v)", len(seen), rewinds, gaps, compact)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("event %s stored %d times", k, n)
		}
	}
}

// TestForwardEventsKeepsEventsWrittenBeforeTheRewindWasSeen: etcd restored
// from a backup more than eventWindow revisions old while the collector
// was down, and written to before the collector came back. The follower
// finds etcd gone back at its start, when etcd is already past the
// revision it went back to: the events.rewind event named that later
// revision, the cluster's floor came down only to it, and the events
// written on the restored etcd before the follower looked, at revisions
// the floor covered, were taken as stored and lost. They are stored, and
// no event of the backup's history twice.
func TestForwardEventsKeepsEventsWrittenBeforeTheRewindWasSeen(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	e, edir, cli := etcdServer(t)
	const prefix = "/rewind-unseen"
	putEvents(t, cli, prefix, 0, 10)
	backup := etcdtest.Backup(t, e, edir)
	putEvents(t, cli, prefix, 10, eventWindow+500)
	total := 10 + eventWindow + 500

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	fadmin, checks := checkCounted(t, e, prefix)
	follow := func() func() { return followInto(t, fadmin, dir, key) }
	stored := func() (map[string]int, int) { return storedKeys(t, dir) }
	stop := follow()
	waitFor(t, "the events before the restore stored", func() bool { k, _ := stored(); return len(k) == total })
	stop()

	// Restored and written to while the collector is down.
	e.Stop()
	etcdtest.PutBack(t, backup, edir)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	putEvents(t, cli, prefix, 100000, 3)
	resp, err := cli.Get(context.Background(), prefix+"/none")
	if err != nil {
		t.Fatal(err)
	}
	stop = follow()
	defer stop()
	waitFor(t, "the rewind stored and etcd's history read again", func() bool {
		_, r := stored()
		rev, _ := ReadResumeRevision(revFile)
		return r == 1 && rev >= resp.Header.Revision-1
	})
	checks.more(t, 3) // more checks: nothing else
	keys, rewinds := stored()
	if len(keys) != total+3 || rewinds != 1 {
		t.Errorf("%d events and %d rewinds stored; want %d (the 3 written on the restored etcd before the follower looked among them) and 1", len(keys), rewinds, total+3)
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("event %s stored %d times", k, n)
		}
	}
}

// TestForwardEventsFollowsAForkFoundLive: a running collector cut off from
// etcd while etcd is restored from a backup and written to, just after
// the restore and then far past the revision the collector had followed.
// Reconnected, its watch resumes above the events written just after the
// restore and stores those written past; only the check of the last
// event stored before (its witness, read at its revision every
// FollowCheck) finds etcd's history forked. Every event written on the
// restored etcd is stored (those the watch stored before the fork was
// found may be stored twice, never lost).
func TestForwardEventsFollowsAForkFoundLive(t *testing.T) {
	etcdadmin.FollowCheck = 500 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	e, edir, cli := etcdServer(t)
	const prefix = "/fork-live"
	putEvents(t, cli, prefix, 0, 10)
	backup := etcdtest.Backup(t, e, edir)
	putEvents(t, cli, prefix, 10, 5) // lost by the restore
	total := 15

	p, admin := pausedAdmin(t, e, prefix)
	dir, key := t.TempDir(), newTestKey(t)
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ForwardEvents(ctx, admin, st, filepath.Join(dir, "events.rev"), zerolog.Nop()) })
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	keys := func() map[string]int {
		m := map[string]int{}
		for _, ev := range storedEvents(t, dir) {
			if ev.Action != etcdadmin.ActionEventsRewind {
				m[ev.Key]++
			}
		}
		return m
	}
	waitFor(t, "the events before the restore stored", func() bool { return len(keys()) == total })
	followed, err := cli.Get(context.Background(), prefix+"/none")
	if err != nil {
		t.Fatal(err)
	}

	p.Pause()
	// Events just after the restore, far below the floor: far enough that
	// the events stored up there put the floor above them.
	forkEtcd(t, e, edir, backup, cli, prefix, 100000, 3, followed.Header.Revision+2*eventWindow)
	putEvents(t, cli, prefix, 200000, 2) // past the revision followed: the watch's
	p.Resume()

	want := []string{}
	for _, n := range []int{100000, 100001, 100002, 200000, 200001} {
		want = append(want, fmt.Sprintf("%s/events/%020d-e", prefix, n))
	}
	waitFor(t, "every event written on the restored etcd stored", func() bool {
		m := keys()
		for _, k := range want {
			if m[k] == 0 {
				return false
			}
		}
		return true
	})
	for k, n := range keys() {
		if n != 1 && !slices.Contains(want[3:], k) {
			t.Errorf("event %s stored %d times", k, n)
		}
	}
}

// followInto opens the store in dir, signed with key, and follows admin's
// lifecycle events into it from dir/events.rev; the func it returns stops
// both.
func followInto(t *testing.T, admin *etcdadmin.Admin, dir string, key ed25519.PrivateKey) func() {
	t.Helper()
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ForwardEvents(ctx, admin, st, filepath.Join(dir, "events.rev"), zerolog.Nop()) })
	return func() { cancel(); wg.Wait(); st.Close() }
}

// storedKeys counts the events stored in dir by key, and the
// events.rewind events apart.
func storedKeys(t *testing.T, dir string) (keys map[string]int, rewinds int) {
	t.Helper()
	keys = map[string]int{}
	for _, ev := range storedEvents(t, dir) {
		if ev.Action == etcdadmin.ActionEventsRewind {
			rewinds++
			continue
		}
		keys[ev.Key]++
	}
	return keys, rewinds
}

// TestForwardEventsRestartedAfterAForkedEventKeepsTheCheck: etcd restored
// from a backup while the collector runs, cut off from it, and written
// past the revision followed. The watch stores an event of the restored
// etcd before the next check, and the collector stops then (a crash, a
// rollout). At its restart the last event stored was that one, which
// etcd's history holds: checking it alone found nothing, and the events
// the restored etcd wrote below the revision followed were lost to the
// trail. The last event a check confirmed is kept (events.witness) and
// checked first at the restart.
func TestForwardEventsRestartedAfterAForkedEventKeepsTheCheck(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	e, edir, cli := etcdServer(t)
	const prefix = "/fork-restart"
	ctx := context.Background()
	evKey := func(n int) string { return fmt.Sprintf("%s/events/%020d-e", prefix, n) }
	putEvents(t, cli, prefix, 0, 5)
	backup := etcdtest.Backup(t, e, edir)
	putEvents(t, cli, prefix, 5, 5) // lost by the restore
	last, err := cli.Get(ctx, prefix+"/none")
	if err != nil {
		t.Fatal(err)
	}

	p, admin := pausedAdmin(t, e, prefix)
	dir, key := t.TempDir(), newTestKey(t)
	wf := WitnessPath(filepath.Join(dir, "events.rev"))
	stop := followInto(t, admin, dir, key)
	waitFor(t, "the last event before the restore confirmed", func() bool {
		w, err := ReadConfirmedWitness(wf, key.Public().(ed25519.PublicKey))
		return err == nil && w.Revision == last.Header.Revision
	})
	stop()

	// Followed again, with no check after the one at its start.
	etcdadmin.FollowCheck = time.Hour
	stop = followInto(t, admin, dir, key)
	putEvents(t, cli, prefix, 10, 1) // stored once the watch runs, after the check at the start
	waitFor(t, "the follower watching", func() bool {
		keys, _ := storedKeys(t, dir)
		return keys[evKey(10)] == 1
	})
	followed, err := cli.Get(ctx, prefix+"/none")
	if err != nil {
		t.Fatal(err)
	}
	p.Pause()
	forkEtcd(t, e, edir, backup, cli, prefix, 100000, 3, followed.Header.Revision+2) // below the revision followed
	putEvents(t, cli, prefix, 200000, 1)                                             // past it: the watch passes it on
	p.Resume()
	waitFor(t, "the restored etcd's event past the revision followed stored", func() bool {
		keys, _ := storedKeys(t, dir)
		return keys[evKey(200000)] == 1
	})
	stop()
	if keys, rewinds := storedKeys(t, dir); rewinds != 0 || keys[evKey(100000)] != 0 {
		t.Fatalf("the fork was found before the restart (%d rewinds): the test did not reach its case", rewinds)
	}

	etcdadmin.FollowCheck = 100 * time.Millisecond
	stop = followInto(t, admin, dir, key)
	defer stop()
	waitFor(t, "the events the restored etcd wrote below the revision followed stored", func() bool {
		keys, _ := storedKeys(t, dir)
		return keys[evKey(100000)] > 0 && keys[evKey(100001)] > 0 && keys[evKey(100002)] > 0
	})
	keys, rewinds := storedKeys(t, dir)
	if rewinds != 1 {
		t.Errorf("%d events.rewind stored; want 1", rewinds)
	}
	for k, n := range keys {
		// The event of the restored etcd stored before the restart is read
		// again with its history (README: stored twice).
		if n != 1 && k != evKey(200000) {
			t.Errorf("event %s stored %d times", k, n)
		}
	}
	if len(keys) != 15 {
		t.Errorf("%d events stored; want 15 (the 11 before the restore, the 4 after)", len(keys))
	}
}

// TestForwardEventsChecksTheFirstEventSinceTheCheck: a running collector
// cut off just after it stored events the restore lost, before the next
// check, and whose watch stored an event of the restored etcd (written
// past the revision followed) when it reconnected. The check found its
// witness, the last event stored when it looked the time before, held
// (the backup has it), and moved on to the last event stored, the
// restored etcd's, which etcd's history holds too: the fork was never
// found and the events the restored etcd wrote below the revision
// followed were lost to the trail. The check reads the first event
// stored since as well before it moves on.
func TestForwardEventsChecksTheFirstEventSinceTheCheck(t *testing.T) {
	etcdadmin.FollowCheck = 3 * time.Second // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	r := newFirstSinceRig(t, "/fork-first")
	defer r.stop()
	// Just after a check: the next is FollowCheck away.
	followed := r.storeLost()
	r.fork(followed, func() {
		if w, err := ReadConfirmedWitness(r.wf, r.key.Public().(ed25519.PublicKey)); err != nil || w.Revision != r.last {
			t.Fatalf("a check ran before the pause (confirmed %v, %v): the test did not reach its case", w, err)
		}
	})
	r.restoredStored()
}

// TestForwardEventsRestartedKeepsTheFirstEventSinceTheCheck: as
// TestForwardEventsChecksTheFirstEventSinceTheCheck, but the collector
// stops after its watch stored the restored etcd's event and before the
// next check. At its restart it read the event the check before
// confirmed, which the backup holds, then the last event stored, the
// restored etcd's: the first event stored since, which the restore lost,
// was never read, and the events the restored etcd wrote below the
// revision followed were lost to the trail. events.witness keeps it
// beside the confirmed one, and a restart reads it too.
func TestForwardEventsRestartedKeepsTheFirstEventSinceTheCheck(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	r := newFirstSinceRig(t, "/fork-first-restart")
	r.stop()

	// Followed again, with no check after the one at its start.
	etcdadmin.FollowCheck = time.Hour
	r.follow()
	r.fork(r.storeLost(), func() {})
	waitFor(t, "the restored etcd's event past the revision followed stored", func() bool {
		keys, _ := storedKeys(t, r.dir)
		return keys[r.evKey(200000)] == 1
	})
	r.stop()
	if keys, rewinds := storedKeys(t, r.dir); rewinds != 0 || keys[r.evKey(100000)] != 0 {
		t.Fatalf("the fork was found before the restart (%d rewinds): the test did not reach its case", rewinds)
	}
	if w, err := ReadConfirmedWitness(r.wf, r.key.Public().(ed25519.PublicKey)); err != nil || w.Revision != r.last {
		t.Fatalf("confirmed %v, %v; want the last event before the backup: the test did not reach its case", w, err)
	}

	etcdadmin.FollowCheck = 100 * time.Millisecond
	r.follow()
	defer r.stop()
	r.restoredStored()
}

// firstSinceRig is etcd with five events and a backup of them, followed
// into a store through a proxy the test pauses, by a follower whose check
// has confirmed the last of the five (last).
type firstSinceRig struct {
	t                 *testing.T
	e                 *devetcd.Server
	edir, backup, dir string
	prefix, wf        string
	cli               *clientv3.Client
	p                 *etcdtest.PauseProxy
	admin             *etcdadmin.Admin
	key               ed25519.PrivateKey
	last              int64
	stop              func()
}

func newFirstSinceRig(t *testing.T, prefix string) *firstSinceRig {
	r := &firstSinceRig{t: t, prefix: prefix, dir: t.TempDir(), key: newTestKey(t)}
	r.e, r.edir, r.cli = etcdServer(t)
	putEvents(t, r.cli, prefix, 0, 5)
	last, err := r.cli.Get(context.Background(), prefix+"/none")
	if err != nil {
		t.Fatal(err)
	}
	r.last = last.Header.Revision
	r.backup = etcdtest.Backup(t, r.e, r.edir)
	r.p, r.admin = pausedAdmin(t, r.e, prefix)
	r.wf = WitnessPath(filepath.Join(r.dir, "events.rev"))
	r.follow()
	waitFor(t, "the last event before the backup confirmed", func() bool {
		w, err := ReadConfirmedWitness(r.wf, r.key.Public().(ed25519.PublicKey))
		return err == nil && w.Revision == r.last
	})
	return r
}

func (r *firstSinceRig) follow() { r.stop = followInto(r.t, r.admin, r.dir, r.key) }

func (r *firstSinceRig) evKey(n int) string { return fmt.Sprintf("%s/events/%020d-e", r.prefix, n) }

// storeLost writes three events the restore loses, waits for them stored,
// and returns etcd's revision then.
func (r *firstSinceRig) storeLost() int64 {
	putEvents(r.t, r.cli, r.prefix, 5, 3)
	waitFor(r.t, "the events after the backup stored", func() bool {
		keys, _ := storedKeys(r.t, r.dir)
		return keys[r.evKey(5)] == 1 && keys[r.evKey(6)] == 1 && keys[r.evKey(7)] == 1
	})
	followed, err := r.cli.Get(context.Background(), r.prefix+"/none")
	if err != nil {
		r.t.Fatal(err)
	}
	return followed.Header.Revision
}

// fork cuts the follower off (paused runs then), restores the backup with
// three events below followed and one past it, which the watch passes on,
// and lets the follower reach etcd again.
func (r *firstSinceRig) fork(followed int64, paused func()) {
	r.p.Pause()
	paused()
	forkEtcd(r.t, r.e, r.edir, r.backup, r.cli, r.prefix, 100000, 3, followed+2) // below the revision followed
	putEvents(r.t, r.cli, r.prefix, 200000, 1)                                   // past it: the watch passes it on
	r.p.Resume()
}

// restoredStored waits for the events the restored etcd wrote below the
// revision followed, and asks for one events.rewind.
func (r *firstSinceRig) restoredStored() {
	waitFor(r.t, "the events the restored etcd wrote below the revision followed stored", func() bool {
		keys, _ := storedKeys(r.t, r.dir)
		return keys[r.evKey(100000)] > 0 && keys[r.evKey(100001)] > 0 && keys[r.evKey(100002)] > 0
	})
	if _, rewinds := storedKeys(r.t, r.dir); rewinds != 1 {
		r.t.Errorf("%d events.rewind stored; want 1", rewinds)
	}
}

// forkEtcd puts backup back into edir, etcd stopped meanwhile, and writes
// the restored history: n events from id first (the caller's comment says
// where they fall), then writes that are no events until etcd is past
// past. It returns etcd's revision then.
func forkEtcd(t *testing.T, e *devetcd.Server, edir, backup string, cli *clientv3.Client, prefix string, first, n int, past int64) int64 {
	t.Helper()
	e.Stop()
	etcdtest.PutBack(t, backup, edir)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	putEvents(t, cli, prefix, first, n)
	for {
		resp, err := cli.Put(context.Background(), prefix+"/members/climb", "x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Revision > past {
			return resp.Header.Revision
		}
	}
}

// pausedAdmin returns an Admin of prefix reaching e through a proxy the
// test pauses: a collector cut off while etcd is restored.
func pausedAdmin(t *testing.T, e *devetcd.Server, prefix string) (*etcdtest.PauseProxy, *etcdadmin.Admin) {
	t.Helper()
	u, err := url.Parse(e.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	p := etcdtest.NewPauseProxy(t, u.Host)
	pcli, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{"http://" + p.Addr}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pcli.Close() })
	return p, etcdadmin.New(pcli, prefix)
}

// A person may delete her own events under events-by/: the follower
// passes the delete on as a flagged event.deleted, and the check that
// finds the last event stored gone from a history compacted past it
// takes it for that delete, not for etcd gone back (no events.rewind).
func TestForwardEventsTakesAPersonsDeletedEventForHerDelete(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	_, _, cli := etcdServer(t)
	prefix := "/deleted-witness"
	ctx := context.Background()
	putEventsIn(t, cli, prefix+"/events-by/ops-alice", 0, 3)
	dir := t.TempDir()
	stop := followInto(t, etcdadmin.New(cli, prefix), dir, newTestKey(t))
	defer stop()
	waitFor(t, "the three events stored", func() bool { return len(storedEvents(t, dir)) == 3 })
	last := fmt.Sprintf("%s/events-by/ops-alice/%020d-e", prefix, 2)
	del, err := cli.Delete(ctx, last)
	if err != nil || del.Deleted != 1 {
		t.Fatalf("deleting %s: %v", last, err)
	}
	waitFor(t, "the event.deleted stored", func() bool {
		return slices.ContainsFunc(storedEvents(t, dir), func(ev Event) bool { return ev.Action == etcdadmin.ActionEventDeleted })
	})
	if _, err := cli.Compact(ctx, del.Header.Revision); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a check finding etcd gone back would have by now
	putEvents(t, cli, prefix, 10, 1)
	waitFor(t, "the event after the delete stored", func() bool { return len(storedEvents(t, dir)) == 5 })
	if _, rewinds := storedKeys(t, dir); rewinds != 0 {
		t.Errorf("%d events.rewind stored for her event deleted and compacted past; want none", rewinds)
	}
}
