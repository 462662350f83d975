package etcdsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/portcullis/portcullis/policy/policytest"
	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Key records, revocations and suspensions reach the Store through the
// watch as the snapshot a full compile of the same state in etcd gives
// (its digest included), without a compile. A new policy is compiled
// again, and the next change amends that.
func TestWatchAmendsRevocationsAndSuspensions(t *testing.T) {
	t.Parallel()
	cli, prefix, a, r := newDeployment(t)
	k := etcdsync.NewLayout(prefix)
	ctx := context.Background()

	// settled waits until the Store's snapshot satisfies cond and is the
	// one a full compile gives, and returns it.
	settled := func(what string, cond func(*policy.Snapshot) bool) *policy.Snapshot {
		t.Helper()
		waitFor(t, 10*time.Second, what, func() bool { return cond(r.store.Load()) })
		snap := r.store.Load()
		if want := compiledAt(t, cli, k, time.Now(), nil); snap.Digest != want.Digest {
			t.Fatalf("%s: digest %x, a compile of the state in etcd gives %x", what, snap.Digest, want.Digest)
		}
		return snap
	}
	r.atRevision(t, 1)
	compiles := r.Compiles()
	amended := func(what string) {
		t.Helper()
		if n := r.Compiles(); n != compiles {
			t.Errorf("%s was compiled again (%d compiles, was %d), want it amended", what, n, compiles)
		}
	}

	_, hris, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	_, bi, err := a.CreateKey(ctx, "globex-bi", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	now := func() int64 { return time.Now().UnixNano() }
	settled("two key records", func(s *policy.Snapshot) bool { return s.Key([]byte(bi.ID)) != nil && s.Key([]byte(hris.ID)) != nil })
	amended("two key records")

	if _, err := a.RevokeKey(ctx, hris.ID, meta); err != nil {
		t.Fatal(err)
	}
	snap := settled("a revocation", func(s *policy.Snapshot) bool { return s.Key([]byte(hris.ID)).Revoked })
	amended("a revocation")
	if !snap.Key([]byte(bi.ID)).ValidAt(now()) {
		t.Fatal("revoking one key made another invalid")
	}

	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	snap = settled("a suspension", func(s *policy.Snapshot) bool { return s.Client("globex-bi").Suspended })
	amended("a suspension")
	if snap.Key([]byte(bi.ID)).ValidAt(now()) || !snap.Key([]byte(hris.ID)).Revoked {
		t.Fatal("after the suspension, the suspended client's key is valid or the revocation was lost")
	}

	if err := a.Resume(ctx, "globex-bi", meta); err != nil {
		t.Fatal(err)
	}
	snap = settled("the suspension's end", func(s *policy.Snapshot) bool { return !s.Client("globex-bi").Suspended })
	amended("the suspension's end")
	if !snap.Key([]byte(bi.ID)).ValidAt(now()) {
		t.Fatal("the resumed client's key is not valid")
	}

	_, more, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	snap = settled("a key record", func(s *policy.Snapshot) bool { return s.Key([]byte(more.ID)) != nil })
	amended("a key record")
	if !snap.Key([]byte(more.ID)).ValidAt(now()) || !snap.Key([]byte(hris.ID)).Revoked {
		t.Fatal("the new key is not valid, or the earlier revocation was lost")
	}
	if _, err := cli.Delete(ctx, k.Key(bi.ID)); err != nil {
		t.Fatal(err)
	}
	settled("a key record deleted", func(s *policy.Snapshot) bool { return s.Key([]byte(bi.ID)) == nil })
	amended("a key record deleted")

	push(t, a, append(examplePolicy(t), "\n# a new revision of the document\n"...))
	snap = settled("a new policy", func(s *policy.Snapshot) bool { return r.Compiles() > compiles && s.Key([]byte(more.ID)) != nil })
	if !snap.Key([]byte(hris.ID)).Revoked || snap.Key([]byte(bi.ID)) != nil {
		t.Fatal("a new policy lost the revocation or brought back a deleted key")
	}
	compiles = r.Compiles()
	if _, err := a.RevokeKey(ctx, more.ID, meta); err != nil {
		t.Fatal(err)
	}
	settled("a revocation after a compile", func(s *policy.Snapshot) bool { return s.Key([]byte(more.ID)).Revoked })
	amended("a revocation after a compile")
}

// A state read whole (a re-read after a lost watch, the reconcile) that
// differs from the one applied only in key records, revocations and
// suspensions is amended too: only the key records that differ are
// amended in. One with a new document is compiled.
func TestReReadAmends(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	ctx := context.Background()
	var ids []string
	for range 3 {
		_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, spec.ID)
	}
	store := &policy.Store{}
	s := etcdsync.NewSyncer(cli, store, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.Nop()})
	read := func() *etcdsync.State {
		t.Helper()
		st, err := etcdsync.ReadState(ctx, cli, k)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	same := func(what string) {
		t.Helper()
		now := time.Now()
		want := compiledAt(t, cli, k, now, nil)
		if g, w := edgeView(store.Load(), now.UnixNano()), edgeView(want, now.UnixNano()); !maps.Equal(g, w) {
			t.Fatalf("%s: store\n%v\ncompile\n%v", what, g, w)
		}
	}
	s.Install(read())
	same("first read")
	if s.Compiles() != 1 || s.Edited() != 0 {
		t.Fatalf("first read: %d compiles, %d key records amended in; want 1, 0", s.Compiles(), s.Edited())
	}

	// While the watch is away: a new key, a key record deleted, a
	// revocation, a suspension.
	_, added, err := a.CreateKey(ctx, "globex-bi", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, k.Key(ids[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, ids[1], meta); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	s.Install(read())
	same("a changed state read whole")
	if s.Compiles() != 1 || s.Edited() != 2 {
		t.Fatalf("a changed state read whole: %d compiles, %d key records amended in; want 1 and 2 (the new and the deleted)", s.Compiles(), s.Edited())
	}
	if snap := store.Load(); snap.Key([]byte(added.ID)) == nil || snap.Key([]byte(ids[0])) != nil || !snap.Key([]byte(ids[1])).Revoked {
		t.Fatal("the re-read's key records or revocation are not in force")
	}

	// An equal read changes nothing, and leaves nothing marked: the next
	// change amends in its own record only.
	s.Install(read())
	_, more, err := a.CreateKey(ctx, "globex-bi", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	s.Install(read())
	same("one more key")
	if s.Compiles() != 1 || s.Edited() != 3 {
		t.Fatalf("one more key: %d compiles, %d key records amended in; want 1, 3", s.Compiles(), s.Edited())
	}
	if store.Load().Key([]byte(more.ID)) == nil {
		t.Fatal("the new key is not in force")
	}

	// A re-read in which more records changed than are amended in (a
	// restored cluster, a mass rotation) is compiled: amending each
	// record costs more than compiling it.
	var ops []clientv3.Op
	for i := range etcdsync.MaxEditsAmended + 1 {
		_, ks := policytest.Key(1000+i, "acme-admin")
		b, err := json.Marshal(ks)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, clientv3.OpPut(k.Key(ks.ID), string(b)))
	}
	for len(ops) > 0 { // etcd takes 128 operations a transaction
		n := min(len(ops), 128)
		if _, err := cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			t.Fatal(err)
		}
		ops = ops[n:]
	}
	s.Install(read())
	same("a mass of new key records")
	if s.Compiles() != 2 || s.Edited() != 3 {
		t.Fatalf("a mass of new key records: %d compiles, %d key records amended in; want 2, 3", s.Compiles(), s.Edited())
	}

	push(t, a, append(examplePolicy(t), "\n# a new revision of the document\n"...))
	s.Install(read())
	same("a new document")
	if s.Compiles() != 3 {
		t.Fatalf("a new document: %d compiles, want 3", s.Compiles())
	}
}

// The watch responses etcd sent while the Syncer was busy are applied
// together, in one snapshot; and when one of them ends the watch (here a
// compaction), the ones taken before it are applied first, so that the
// state applied and the Store never part.
func TestHandleTakesWaitingResponses(t *testing.T) {
	t.Parallel()
	cli, k, _ := examplePushed(t)
	ctx := context.Background()
	store := &policy.Store{}
	s := etcdsync.NewSyncer(cli, store, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.Nop()})
	st, err := etcdsync.ReadState(ctx, cli, k)
	if err != nil {
		t.Fatal(err)
	}
	s.Install(st)
	var swaps int
	store.AddPreparer(func(*policy.Snapshot) { swaps++ })
	swaps = 0 // AddPreparer prepares the snapshot in force
	rev := st.Revision
	put := func(key, value string) clientv3.WatchResponse {
		rev++
		return clientv3.WatchResponse{Header: &etcdserverpb.ResponseHeader{Revision: rev},
			Events: []*clientv3.Event{{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), ModRevision: rev}}}}
	}

	first := put(k.Revocation("acmehris1"), `{}`)
	more := make(chan clientv3.WatchResponse, 2)
	more <- put(k.Revocation("globexbi1"), `{}`)
	more <- put(k.Suspension("acme-admin"), `{}`)
	if err := s.Handle(first, more); err != nil {
		t.Fatal(err)
	}
	snap := store.Load()
	if swaps != 1 || !snap.Key([]byte("acmehris1")).Revoked || !snap.Key([]byte("globexbi1")).Revoked || !snap.Client("acme-admin").Suspended || snap.Revision != rev {
		t.Fatalf("%d swaps, revision %d (want 1, %d): the three responses were not applied together", swaps, snap.Revision, rev)
	}

	first = put(k.Revocation("acmeadm1"), `{}`)
	more <- clientv3.WatchResponse{Header: &etcdserverpb.ResponseHeader{Revision: rev + 5}, CompactRevision: rev + 5}
	if err := s.Handle(first, more); err == nil {
		t.Fatal("a compacted watch did not end the watch")
	}
	if swaps != 2 || !store.Load().Key([]byte("acmeadm1")).Revoked {
		t.Fatalf("%d swaps (want 2): the revocation taken before the compaction was not applied", swaps)
	}

	// A steady stream: at most MaxTaken responses go into one snapshot,
	// and the rest wait for the next.
	jti := func(i int) string { return fmt.Sprintf("stream-%d", i) }
	first = put(k.Revocation(etcdsync.JTIPrefix+jti(0)), `{}`)
	stream := make(chan clientv3.WatchResponse, etcdsync.MaxTaken)
	for i := 1; i <= etcdsync.MaxTaken; i++ {
		stream <- put(k.Revocation(etcdsync.JTIPrefix+jti(i)), `{}`)
	}
	if err := s.Handle(first, stream); err != nil {
		t.Fatal(err)
	}
	snap = store.Load()
	if swaps != 3 || !snap.JTIRevoked(jti(etcdsync.MaxTaken-1)) || snap.JTIRevoked(jti(etcdsync.MaxTaken)) || len(stream) != 1 {
		t.Fatalf("%d swaps (want 3), %d responses left (want 1): not the first %d responses in one snapshot", swaps, len(stream), etcdsync.MaxTaken)
	}
}
