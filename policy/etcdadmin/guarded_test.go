package etcdadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// follower runs FollowEvents of a from from in the background and keeps
// what it passes on; stop ends it.
type follower struct {
	mu   sync.Mutex
	got  []Event
	stop func()
}

func follow(t *testing.T, a *Admin, from int64) *follower {
	t.Helper()
	return followFrom(t, a, from, Witnesses{}, nil)
}

// followFrom is follow through FollowEventsAfter, with the witnesses w
// kept from before and keep told what to keep.
func followFrom(t *testing.T, a *Admin, from int64, w Witnesses, keep func(Witnesses) error) *follower {
	t.Helper()
	f := &follower{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.FollowEventsAfter(ctx, from, w, keep, func(evs []Event) error {
			f.mu.Lock()
			f.got = append(f.got, evs...)
			f.mu.Unlock()
			return nil
		})
	}()
	f.stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("FollowEvents: %v", err)
		}
	}
	t.Cleanup(func() { cancel() })
	return f
}

// events returns a copy of what the follower passed on so far.
func (f *follower) events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// waitAt waits until the follower passed on an event at revision rev or
// later.
func (f *follower) waitAt(t *testing.T, rev int64) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("an event at revision %d", rev), func() bool {
		evs := f.events()
		return len(evs) > 0 && evs[len(evs)-1].Revision >= rev
	})
}

// stopAfterLastKey makes a last legitimate change, a key of client with
// meta, waits until f passed on its event (so every change before it was
// followed), and stops f.
func (f *follower) stopAfterLastKey(t *testing.T, a *Admin, client string, meta Meta) {
	t.Helper()
	ctx := context.Background()
	_, last, err := a.CreateKey(ctx, client, 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	lastRev, err := a.keyRevision(ctx, last.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.waitAt(t, lastRev)
	f.stop()
}

// unattributedOf returns the events of evs made for a change of a
// revocation or a suspension that no event spoke for.
func unattributedOf(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if strings.HasSuffix(e.Action, "_unattributed") {
			out = append(out, e)
		}
	}
	return out
}

// A revocation deleted by hand in etcd (the operator's role, or the
// collector's certificate since it writes revocations for revoke_key
// containment, can) brought the key back, and so did a suspension deleted
// by hand the client: the follower watched approval-uses/ to events/ only,
// and the trail held nothing of either. Now each change of a revocation
// or a suspension that no event of its own transaction speaks for is a
// flagged event naming the key id or client and the etcd revision, and the
// legitimate changes (revoke, prune of a lapsed token's revocation,
// suspend, resume, a suspension's lease at its until) yield none.
func TestFollowFlagsRevocationsAndSuspensionsChangedByHand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, examplePolicy(t))
	f := follow(t, a, 0)

	// The legitimate paths.
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, spec.ID, meta); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(-policy.MaxClockSkew - 3*time.Hour)
	if _, err := a.RevokeToken(ctx, "tok-1", exp, meta); err != nil {
		t.Fatal(err)
	}
	if pruned, err := a.PruneRevocations(ctx, meta); err != nil || len(pruned) != 1 {
		t.Fatalf("PruneRevocations = %v, %v; want the lapsed token's revocation", pruned, err)
	}
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	if err := a.Resume(ctx, "acme-hris", meta); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "acme-admin", time.Second, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the one-second suspension's lease to take it", func() bool {
		resp, err := cli.Get(ctx, k.Suspension("acme-admin"))
		return err == nil && len(resp.Kvs) == 0
	})

	// By hand.
	del, err := cli.Delete(ctx, k.Revocation(spec.ID))
	if err != nil || del.Deleted != 1 {
		t.Fatalf("deleting the revocation by hand: %v, %d deleted", err, del.Deleted)
	}
	rec, _ := json.Marshal(etcdsync.Revocation{ID: "handmade1", Actor: "mallory", Reason: "x", Time: time.Now()})
	put, err := cli.Put(ctx, k.Revocation("handmade1"), string(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	sdel, err := cli.Delete(ctx, k.Suspension("acme-hris"))
	if err != nil || sdel.Deleted != 1 {
		t.Fatalf("deleting the suspension by hand: %v", err)
	}
	srec, _ := json.Marshal(etcdsync.Suspension{Client: "acme-admin", Actor: "mallory", Time: time.Now(), Until: time.Now().Add(time.Hour)})
	sput, err := cli.Put(ctx, k.Suspension("acme-admin"), string(srec))
	if err != nil {
		t.Fatal(err)
	}
	f.stopAfterLastKey(t, a, "acme-admin", meta)

	type flag struct {
		action, target string
		rev            int64
	}
	want := []flag{
		{"revocation.deleted_unattributed", spec.ID, del.Header.Revision},
		{"revocation.written_unattributed", "handmade1", put.Header.Revision},
		{"suspension.deleted_unattributed", "acme-hris", sdel.Header.Revision},
		{"suspension.written_unattributed", "acme-admin", sput.Header.Revision},
	}
	var got []flag
	evs := f.events()
	for _, e := range unattributedOf(evs) {
		got = append(got, flag{e.Action, e.Target, e.Revision})
		if e.Unverified == "" {
			t.Errorf("%s of %q at revision %d is not flagged", e.Action, e.Target, e.Revision)
		}
		if e.Actor != "" {
			t.Errorf("%s names actor %q: etcd says nothing of who wrote it", e.Action, e.Actor)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("unattributed changes followed:\n%v\nwant:\n%v\nall events: %+v", got, want, evs)
	}
	for i, e := range evs {
		if strings.HasPrefix(e.Key, k.KeysDir()) {
			t.Errorf("an event of a key record: %+v", e)
		}
		if i > 0 && e.Revision < evs[i-1].Revision {
			t.Errorf("event %d at revision %d after one at %d", i, e.Revision, evs[i-1].Revision)
		}
	}
}

// keyRevision returns the mod revision of key record id.
func (a *Admin) keyRevision(ctx context.Context, id string) (int64, error) {
	resp, err := a.cli.Get(ctx, a.k.Key(id))
	if err != nil || len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("key record %q: %v", id, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// A key revocation deleted with a token.revocation_expired event written
// by hand beside it is still unattributed: PruneRevocations deletes only
// a token's revocation that has lapsed.
func TestFollowFlagsAKeyRevocationDeletedWithAPruneEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, examplePolicy(t))
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, spec.ID, meta); err != nil {
		t.Fatal(err)
	}
	ev, err := a.eventOp(time.Now(), ActionTokenRevocationExpired, spec.ID, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := a.commit(ctx, nil, clientv3.OpDelete(k.Revocation(spec.ID)), ev)
	if err != nil || rev == 0 {
		t.Fatalf("delete with a prune event: %d, %v", rev, err)
	}
	f := follow(t, a, 0)
	f.waitAt(t, rev)
	f.stop()
	u := unattributedOf(f.events())
	if len(u) != 1 || u[0].Action != "revocation.deleted_unattributed" || u[0].Target != spec.ID || u[0].Revision != rev || u[0].Unverified == "" {
		t.Errorf("unattributed events = %+v, want one flagged revocation.deleted_unattributed of %s at %d", u, spec.ID, rev)
	}
}

// When etcd compacted the history after the resume revision, the
// follower reads the keys as they are: a revocation or a suspension
// written by hand since is flagged, one written with its event is not,
// and the events.gap says that one deleted since may be missing.
func TestFollowCompactedFlagsRevocationsWrittenByHand(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir()) // its own server: the test compacts it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx := context.Background()
	cli := dial(t, e)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, examplePolicy(t))
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, spec.ID, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	put, err := cli.Put(ctx, k.Revocation("handmade1"), `{"id":"handmade1"}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, put.Header.Revision); err != nil {
		t.Fatal(err)
	}
	f := follow(t, a, 1)
	waitFor(t, 20*time.Second, "the events.gap event", func() bool {
		return slices.ContainsFunc(f.events(), func(e Event) bool { return e.Action == ActionEventsGap })
	})
	f.stop()
	evs := f.events()
	u := unattributedOf(evs)
	if len(u) != 1 || u[0].Action != "revocation.written_unattributed" || u[0].Target != "handmade1" || u[0].Revision != put.Header.Revision || u[0].Unverified == "" {
		t.Errorf("unattributed events over compacted history = %+v, want one flagged revocation.written_unattributed of handmade1 at %d", u, put.Header.Revision)
	}
	for _, e := range evs {
		if e.Action == ActionEventsGap && !strings.Contains(e.Unverified, "revocations and suspensions deleted") {
			t.Errorf("events.gap does not say revocations and suspensions deleted may be missing: %q", e.Unverified)
		}
	}
}
