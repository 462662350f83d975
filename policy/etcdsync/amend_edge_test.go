package etcdsync_test

// The amended snapshot is what a compile of the same state gives in the
// edge cases of key records, revocations and suspensions, and readers of
// the snapshots race with nothing (written by an outside review of
// policy.Amend, and extended when key records came to be amended).

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/portcullis/portcullis/policy/policytest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// edgeView is policytest.View of s at now, with a key id and token ids
// the tests revoke.
func edgeView(s *policy.Snapshot, now int64) map[string]string {
	return policytest.View(s, now, []string{"nokey123"}, []string{"t1", "t2", "t3"})
}

// compiledAt compiles the state in etcd at now, with doc (nil: the
// state's own document).
func compiledAt(t *testing.T, cli *clientv3.Client, k etcdsync.Layout, now time.Time, doc *policy.Document) *policy.Snapshot {
	t.Helper()
	st, err := etcdsync.ReadState(context.Background(), cli, k)
	if err != nil {
		t.Fatal(err)
	}
	if doc == nil {
		if doc, err = policy.Load("etcd", []byte(st.Policy)); err != nil {
			t.Fatal(err)
		}
	}
	live, _ := st.Live(now)
	snap, err := policy.Compile(doc, live)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestAmendEdgeCasesMatchCompile(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	prefix := string(k)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	scli, reads := readCounted(t, shared, prefix)
	r := runSyncer(t, scli, etcdsync.SyncConfig{Prefix: prefix, Now: now, Reconcile: 150 * time.Millisecond})
	ctx := context.Background()
	goodDoc, err := policy.Load("etcd", examplePolicy(t))
	if err != nil {
		t.Fatal(err)
	}

	var lastRev int64 = 1
	check := func(what string, doc *policy.Document) *policy.Snapshot {
		t.Helper()
		rev := lastRev
		waitFor(t, 10*time.Second, what, func() bool { s := r.store.Load(); return s != nil && s.Revision >= rev })
		got := r.store.Load()
		want := compiledAt(t, cli, k, now(), doc)
		n := now().UnixNano()
		if g, w := edgeView(got, n), edgeView(want, n); !maps.Equal(g, w) {
			t.Fatalf("%s: store\n%v\ncompile\n%v", what, g, w)
		}
		return got
	}
	put := func(key, val string) {
		t.Helper()
		resp, err := cli.Put(ctx, key, val)
		if err != nil {
			t.Fatal(err)
		}
		lastRev = resp.Header.Revision
	}
	del := func(key string) {
		t.Helper()
		resp, err := cli.Delete(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		lastRev = resp.Header.Revision
	}
	check("start", nil)
	// amended checks that the change checked last was amended in, not
	// compiled. A re-read (every 150ms here) that lands between a change
	// and its watch event finds the watch behind and applies the state it
	// read (amended too, unless it must be compiled); when a re-read
	// applied a state, the check has nothing to say.
	compiles, installs := r.Compiles(), r.Installs()
	amended := func(what string, _ *policy.Snapshot) {
		t.Helper()
		c, i := r.Compiles(), r.Installs()
		if c != compiles && i == installs {
			t.Fatalf("%s: compiled, want amended", what)
		}
		compiles, installs = c, i
	}
	compiled := func() { compiles, installs = r.Compiles(), r.Installs() }

	// Revocation of a key id no record has, an invalid revocation record,
	// a token revocation, a revocation of a key revoked by its own record.
	compiled()
	put(k.Revocation("nokey123"), `{}`)
	amended("unknown id", check("unknown id", nil))
	put(k.Revocation("acmehris1"), `not json`)
	amended("invalid revocation", check("invalid revocation", nil))
	put(k.Revocation(etcdsync.JTIPrefix+"t1"), `{}`)
	amended("jti", check("jti", nil))
	put(k.Revocation("revoked1"), `{}`)
	amended("revocation of revoked1", check("revocation of revoked1", nil))
	del(k.Revocation("revoked1"))
	if s := check("un-revocation of revoked1", nil); !s.Key([]byte("revoked1")).Revoked {
		t.Fatal("revoked1 lost its own record's revocation")
	}
	amended("un-revocation of revoked1", nil)

	// Suspensions: one lapsing by the clock, an invalid record, an mTLS client.
	until := now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	put(k.Suspension("globex-bi"), `{"client":"globex-bi","until":"`+until+`"}`)
	check("suspension with until", nil)
	put(k.Suspension("acme-admin"), `broken`)
	if s := check("invalid suspension of mtls client", nil); !s.MTLSClient("spiffe://cluster.local/ns/acme/sa/admin-console").Suspended {
		t.Fatal("mtls client not suspended")
	}
	clock.Add(int64(2 * time.Hour))
	put(k.Revocation(etcdsync.JTIPrefix+"t2"), `{}`) // any change: compiled at the later clock
	if s := check("suspension past its until", nil); !s.Client("globex-bi").Suspended {
		t.Fatal("suspension past its until by the sidecar's clock lifted while its record is in etcd")
	}
	put(k.Suspension("ghost"), `{}`) // a client the policy does not have
	check("suspension of unknown client", nil)

	// Reconciles with an equal state happened meanwhile (150ms); wait for
	// a few more, then amend again. The key records the re-reads read are
	// not edits: the next change amends in none of them (a re-read used to
	// leave every key record it read marked as edited, and a second one
	// made the next change compile).
	put(k.Key("reread12"), fmt.Sprintf(`{"id":"reread12","client":"acme-hris","sha256":%q}`, strings.Repeat("ab", 32)))
	check("key record before reconciles", nil)
	// Two re-reads after it applied: 500 ms stood in for them, which a
	// loaded machine could spend with fewer, and the check below then
	// tested nothing of the re-reads.
	reads.appliedN(t, lastRev, 2)
	compiled()
	edited := r.Edited()
	del(k.Suspension("acme-admin"))
	amended("after reconciles", check("after reconciles", nil))
	if n := r.Edited() - edited; n != 0 {
		t.Fatalf("a suspension's end after re-reads amended in %d key records, want none", n)
	}

	// A refused document: the fallback compiles the last good one with
	// the live records; revocations under it must match that compile.
	put(k.Policy(), "version: 1\ntenants: [{id: acme, nope: 1}]\n")
	waitFor(t, 10*time.Second, "refusal", func() bool { return r.Failures() == 1 })
	lastRev = 1
	check("refused doc", goodDoc)
	put(k.Revocation("globexbi1"), `{}`)
	check("revocation under refused doc", goodDoc)
	put(k.Suspension("acme-hris"), `{}`)
	check("suspension under refused doc", goodDoc)
	// Back to the good text: compiled, then amended again.
	lastRev = push(t, a, examplePolicy(t))
	check("good doc again", nil)
	compiled()
	del(k.Revocation("globexbi1"))
	amended("un-revocation after good doc", check("un-revocation after good doc", nil))
	// A new key record: amended in.
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := cli.Get(ctx, k.Key(spec.ID))
	if err != nil || len(kr.Kvs) == 0 {
		t.Fatal(err)
	}
	lastRev = kr.Kvs[0].ModRevision
	if s := check("new key", nil); s.Key([]byte(spec.ID)) == nil {
		t.Fatal("the new key is not in the snapshot")
	}
	amended("new key", nil)
	// Its record rewritten revoked by itself: amended, stays revoked when
	// a revocation comes and goes.
	spec.Revoked = true
	raw := fmt.Sprintf(`{"id":%q,"client":%q,"sha256":%q,"revoked":true}`, spec.ID, spec.Client, spec.SHA256)
	put(k.Key(spec.ID), raw)
	amended("key revoked by record", check("key revoked by record", nil))
	put(k.Revocation(spec.ID), `{}`)
	amended("revocation of key revoked by record", check("revocation of key revoked by record", nil))
	// Its record rewritten for another secret: the old one no longer
	// matches (edgeView compares each key's SHA-256).
	other := sha256.Sum256([]byte("another secret"))
	put(k.Key(spec.ID), fmt.Sprintf(`{"id":%q,"client":%q,"sha256":"%x","revoked":true}`, spec.ID, spec.Client, other))
	if s := check("key record for another secret", nil); s.Key([]byte(spec.ID)).Digest != other {
		t.Fatal("a key record rewritten for another secret still holds the old one")
	}
	amended("key record for another secret", nil)
	del(k.Revocation(spec.ID))
	if s := check("un-revocation of key revoked by record", nil); !s.Key([]byte(spec.ID)).Revoked {
		t.Fatal("key revoked by its record is valid")
	}
	amended("un-revocation of key revoked by record", nil)

	// Key records that are left out: one that does not decode, one whose
	// id is not its name, one of an unknown client, one taking a
	// document key's id (skipped as a duplicate), one of a suspended
	// client. Each is amended in, and fixed or deleted again.
	record := func(id, client string) string {
		return fmt.Sprintf(`{"id":%q,"client":%q,"sha256":%q}`, id, client, spec.SHA256)
	}
	invalid := r.InvalidRecords()
	for _, tt := range []struct{ name, id, raw string }{
		{"undecodable key record", "broken12", `{"id":`},
		{"key record of another id", "other123", record("else1234", "acme-hris")},
		{"key record of an unknown client", "ghost123", record("ghost123", "ghost")},
		// Its "fixed" put below is another record of the same id: a put of
		// the same bytes would leave the Store's revision behind when a
		// re-read lands between the put and its watch event (the state
		// read is unchanged), and check waits for that revision.
		{"key record of a document key's id", "acmehris1", record("acmehris1", "acme-admin")},
	} {
		put(k.Key(tt.id), tt.raw)
		check(tt.name, nil)
		amended(tt.name, nil)
		waitFor(t, 10*time.Second, tt.name+" reported", func() bool { return r.InvalidRecords() == invalid+1 })
		if tt.id == "acmehris1" {
			if s := r.store.Load(); s.Key([]byte(tt.id)).Client.ID != "acme-hris" {
				t.Fatal("a key record took a document key's id")
			}
		}
		put(k.Key(tt.id), record(tt.id, "globex-bi")) // fixed, or still a duplicate
		check(tt.name+" fixed", nil)
		amended(tt.name+" fixed", nil)
		del(k.Key(tt.id))
		if s := check(tt.name+" deleted", nil); tt.id != "acmehris1" && s.Key([]byte(tt.id)) != nil {
			t.Fatalf("%s: deleted, still in the snapshot", tt.name)
		}
		amended(tt.name+" deleted", nil)
		waitFor(t, 10*time.Second, tt.name+" no longer reported", func() bool { return r.InvalidRecords() == invalid })
	}
	put(k.Suspension("globex-bi"), `{}`)
	check("suspension of globex-bi", nil)
	put(k.Key("globexbi9"), record("globexbi9", "globex-bi"))
	if s := check("key of a suspended client", nil); s.Key([]byte("globexbi9")).ValidAt(now().UnixNano()) {
		t.Fatal("a new key of a suspended client is valid")
	}
	amended("key of a suspended client", nil)
}

// Readers hold snapshots while key records, revocations and suspensions
// are amended in: the race detector watches, and a snapshot held never
// changes.
func TestAmendedSnapshotsHeldUnchanged(t *testing.T) {
	t.Parallel()
	cli, prefix, _, r := newDeployment(t)
	k := etcdsync.NewLayout(prefix)
	ctx := context.Background()
	r.atRevision(t, 1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				s := r.store.Load()
				n := time.Now().UnixNano()
				before := edgeView(s, n)
				for range 50 {
					_ = edgeView(r.store.Load(), n)
				}
				if after := edgeView(s, n); !maps.Equal(after, before) {
					bad.Store(fmt.Sprintf("%v\n---\n%v", before, after))
				}
			}
		})
	}
	clients := []string{"acme-hris", "acme-admin", "globex-bi"}
	keys := []string{"acmehris1", "acmeadm1", "globexbi1", "revoked1"}
	for i := range 80 {
		var err error
		switch i % 4 {
		case 3: // a key record put, and one deleted
			_, ks := policytest.Key(100+i%7, clients[(i/4)%3])
			b, _ := json.Marshal(ks)
			if _, err = cli.Put(ctx, k.Key(ks.ID), string(b)); err == nil {
				_, err = cli.Delete(ctx, k.Key(policytest.KeyID(100+(i+3)%7)))
			}
		case 0: // a revocation of each key in turn, taken back two steps later
			_, err = cli.Put(ctx, k.Revocation(keys[(i/4)%4]), `{}`)
		case 1:
			_, err = cli.Put(ctx, k.Suspension(clients[(i/4)%3]), `{}`)
			if err == nil {
				_, err = cli.Delete(ctx, k.Suspension(clients[(i/4+1)%3]))
			}
		case 2:
			_, err = cli.Delete(ctx, k.Revocation(keys[(i/4)%4]))
			if err == nil {
				_, err = cli.Put(ctx, k.Revocation(etcdsync.JTIPrefix+fmt.Sprint("t", (i/4)%4)), `{}`)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "the last change", func() bool {
		return r.store.Load().Digest == compiledAt(t, cli, k, time.Now(), nil).Digest
	})
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("a held snapshot changed:\n%s", v)
	}
}
