package collector

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
)

// TestWitnessOlderCopyPutBackIsNotTrusted: events.witness is signed by
// the store's key, but a copy taken earlier, put back once the follower
// had stored more events, was trusted as the store's latest: its
// confirmed witness (an earlier event, which an etcd restored from an
// older backup still holds) and its auth mark were what the next check
// read. The witness now records the last etcd revision the store held
// when it was written (stored_through), and a start whose store holds a
// later event reads it as none, in a warn line naming the file.
func TestWitnessOlderCopyPutBackIsNotTrusted(t *testing.T) {
	e, _, cli := etcdServer(t)
	const prefix = "/witness-rollback"
	_, admin := pausedAdmin(t, e, prefix)
	dir, key := t.TempDir(), newTestKey(t)
	wf := WitnessPath(filepath.Join(dir, "events.rev"))
	pub := key.Public().(ed25519.PublicKey)

	putEvents(t, cli, prefix, 0, 3)
	stop := followInto(t, admin, dir, key)
	waitFor(t, "the first events confirmed", func() bool {
		w, err := ReadConfirmedWitness(wf, pub)
		return err == nil && w.Revision > 0
	})
	stop()
	older := mustRead(t, wf)

	stop = followInto(t, admin, dir, key)
	putEvents(t, cli, prefix, 3, 3)
	waitFor(t, "the later events stored", func() bool { return len(storedEvents(t, dir)) == 6 })
	stop()

	start := func() (etcdadmin.Witnesses, string) {
		t.Helper()
		st, err := OpenStore(dir, StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var logs bytes.Buffer
		_, ws, err := trustedWitnesses(wf, st, zerolog.New(&logs))
		if err != nil {
			t.Fatalf("trustedWitnesses: %v", err)
		}
		return ws, logs.String()
	}
	if ws, logs := start(); ws.Confirmed.Revision == 0 || logs != "" {
		t.Fatalf("the follower's own witness at a restart: %+v, log %q; want it trusted", ws, logs)
	}
	if err := os.WriteFile(wf, older, 0o600); err != nil {
		t.Fatal(err)
	}
	ws, logs := start()
	if ws != (etcdadmin.Witnesses{}) {
		t.Errorf("the older copy put back is read as %+v; want none", ws)
	}
	if !strings.Contains(logs, `"level":"warn"`) || !strings.Contains(logs, wf) {
		t.Errorf("log %q: want a warn line naming %s", logs, wf)
	}
}

// TestWitnessOlderCopyAfterARewindIsNotTrusted: as
// TestWitnessOlderCopyPutBackIsNotTrusted, after etcd was restored from a
// backup and the follower stored the restored etcd's events, all below
// the revision it had followed before. stored_through stayed at that
// revision, written before the restore, so every witness written since
// said it, and a copy taken after the restore, put back once more events
// were stored, was trusted as the store's latest. The follower now
// records the newest revision the store holds after each batch, which
// comes down with a rewind.
func TestWitnessOlderCopyAfterARewindIsNotTrusted(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	r := newFirstSinceRig(t, "/witness-rewind")
	pub := r.key.Public().(ed25519.PublicKey)
	// Twenty events the restore loses take the revision followed well
	// past the restored etcd's next ones.
	putEvents(t, r.cli, r.prefix, 5, 20)
	waitFor(t, "the events after the backup stored", func() bool {
		keys, _ := storedKeys(t, r.dir)
		return keys[r.evKey(24)] == 1
	})
	r.p.Pause()
	forkEtcd(t, r.e, r.edir, r.backup, r.cli, r.prefix, 100000, 3, 0)
	r.p.Resume()
	r.restoredStored()
	waitFor(t, "a restored etcd's event confirmed", func() bool {
		w, err := ReadConfirmedWitness(r.wf, pub)
		return err == nil && w.Revision > r.last
	})
	older := mustRead(t, r.wf)
	putEvents(t, r.cli, r.prefix, 100003, 3)
	waitFor(t, "the restored etcd's later events stored", func() bool {
		keys, _ := storedKeys(t, r.dir)
		return keys[r.evKey(100005)] == 1
	})
	r.stop()

	st, err := OpenStore(r.dir, StoreConfig{SigningKey: r.key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ws, err := trustedWitnesses(r.wf, st, zerolog.Nop()); err != nil || ws.Confirmed.Revision <= r.last {
		t.Fatalf("the follower's own witness at a restart: %+v, %v; want it trusted", ws, err)
	}
	if err := os.WriteFile(r.wf, older, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	_, ws, err := trustedWitnesses(r.wf, st, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if ws != (etcdadmin.Witnesses{}) {
		t.Errorf("the older copy taken after the restore, put back, is read as %+v; want none", ws)
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) {
		t.Errorf("log %q: want a warn line", logs.String())
	}
}

// TestWitnessCopyFromBeforeARestoreIsNotTrusted: a copy of events.witness
// taken before etcd was restored from an older backup, put back after the
// follower stored the rewind and the restored etcd's events, all below
// the revision followed before (stored_through), was trusted: its
// confirmed witness and auth mark are of the history etcd went back from,
// and its auth mark, seeded into the follower, bound events under
// events-by/ of a restored etcd at the mark's auth revision (a backup
// taken before authentication was turned on) written while it was off.
// The witness now records the chain position of
// the last events.rewind the store held when it was written
// (rewound_at_seq), and a start whose store holds a later rewind reads it
// as none.
func TestWitnessCopyFromBeforeARestoreIsNotTrusted(t *testing.T) {
	etcdadmin.FollowCheck = 100 * time.Millisecond // not parallel: it sets a package variable
	t.Cleanup(func() { etcdadmin.FollowCheck = 5 * time.Second })
	r := newFirstSinceRig(t, "/witness-restore")
	putEvents(t, r.cli, r.prefix, 5, 20)
	waitFor(t, "the events after the backup stored", func() bool {
		keys, _ := storedKeys(t, r.dir)
		return keys[r.evKey(24)] == 1
	})
	pub := r.key.Public().(ed25519.PublicKey)
	waitFor(t, "the events after the backup confirmed", func() bool {
		w, err := ReadConfirmedWitness(r.wf, pub)
		return err == nil && w.Revision > r.last
	})
	older := mustRead(t, r.wf) // taken before the restore
	r.p.Pause()
	forkEtcd(t, r.e, r.edir, r.backup, r.cli, r.prefix, 100000, 3, 0)
	r.p.Resume()
	r.restoredStored()
	r.stop()

	st, err := OpenStore(r.dir, StoreConfig{SigningKey: r.key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := os.WriteFile(r.wf, older, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	_, ws, err := trustedWitnesses(r.wf, st, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if ws != (etcdadmin.Witnesses{}) {
		t.Errorf("the copy taken before the restore, put back, is read as %+v; want none", ws)
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) {
		t.Errorf("log %q: want a warn line", logs.String())
	}
}
