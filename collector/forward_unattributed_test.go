package collector

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// A revocation deleted by hand in etcd brought the key back with nothing
// in the trail: the follower did not watch revocations/. Against a real
// etcd and a real store, the delete is stored as a flagged
// revocation.deleted_unattributed event naming the key and the etcd
// revision, counted with the unverified events
// (portcullis_collector_events_unverified_total, which
// PortcullisLifecycleEventUnverified alerts on), while the revocation
// itself (written with its event) is not; one made while the collector was
// down is stored at its restart, and a restart from a lost resume file
// stores neither twice.
func TestForwardEventsStoresARevocationDeletedByHand(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	const prefix = "/revdel-test"
	admin := etcdadmin.New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	ctx := context.Background()
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	meta := etcdadmin.Meta{Actor: "alice", Reason: "test", Ticket: "CHG-1"}
	if _, err := admin.PushPolicy(ctx, doc, 0, meta); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		_, spec, err := admin.CreateKey(ctx, "acme-hris", 0, meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RevokeKey(ctx, spec.ID, meta); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, spec.ID)
	}
	del, err := cli.Delete(ctx, k.Revocation(ids[0]))
	if err != nil || del.Deleted != 1 {
		t.Fatalf("deleting the revocation by hand: %v", err)
	}

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	flagged := func() map[int64]Event {
		out := map[int64]Event{}
		for _, ev := range storedEvents(t, dir) {
			if ev.Action == "revocation.deleted_unattributed" {
				out[ev.Revision] = ev
			}
		}
		return out
	}
	run := func(what string, done func() bool) StoreStats {
		t.Helper()
		st, err := OpenStore(dir, StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); ForwardEvents(cctx, admin, st, revFile, zerolog.Nop()) }()
		waitFor(t, what, done)
		cancel()
		wg.Wait()
		stats := st.Stats()
		st.Close()
		return stats
	}
	stats := run("the delete stored", func() bool { return len(flagged()) == 1 })
	ev := flagged()[del.Header.Revision]
	if ev.Target != ids[0] || ev.Unverified == "" || ev.Key != k.Revocation(ids[0]) {
		t.Errorf("stored %+v, want a flagged revocation.deleted_unattributed of %s at revision %d", ev, ids[0], del.Header.Revision)
	}
	if stats.Unverified != 1 {
		t.Errorf("unverified events counted %d, want 1 (the delete only)", stats.Unverified)
	}
	before := len(storedEvents(t, dir))

	// Deleted while the collector was down: stored at its restart.
	del2, err := cli.Delete(ctx, k.Revocation(ids[1]))
	if err != nil || del2.Deleted != 1 {
		t.Fatalf("deleting the second revocation by hand: %v", err)
	}
	run("the second delete stored", func() bool { return len(flagged()) == 2 })
	if ev := flagged()[del2.Header.Revision]; ev.Target != ids[1] || ev.Unverified == "" {
		t.Errorf("stored %+v, want a flagged revocation.deleted_unattributed of %s at revision %d", ev, ids[1], del2.Header.Revision)
	}
	if n := len(storedEvents(t, dir)); n != before+1 {
		t.Errorf("after the restart %d events stored, want %d", n, before+1)
	}

	// The resume file lost: everything is read again, nothing stored twice.
	os.Remove(revFile)
	if _, err := admin.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	run("the suspension stored", func() bool { return len(storedEvents(t, dir)) >= before+2 })
	if n := len(storedEvents(t, dir)); n != before+2 {
		t.Errorf("after replaying from 0: %d events stored, want %d (each once)", n, before+2)
	}
	if f := flagged(); len(f) != 2 {
		t.Errorf("after replaying from 0: %d deletes stored, want 2", len(f))
	}
}
