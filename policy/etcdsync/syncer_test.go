package etcdsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestPushReachesStore(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := NewAdmin(cli, prefix)
	doc := examplePolicy(t)
	rev1 := push(t, a, doc)
	r := runSyncer(t, cli, SyncConfig{Prefix: prefix, StateDir: t.TempDir(), Pod: "pod-a"})
	snap := r.atRevision(t, rev1)
	if got, want := len(snap.Routes), 8; got != want {
		t.Errorf("routes = %d, want %d", got, want)
	}
	doc2 := bytes.Replace(doc, []byte("name: Acme Corp"), []byte("name: Acme Corporation"), 1)
	rev2 := push(t, a, doc2)
	snap = r.atRevision(t, rev2)
	if got, want := snap.Doc.Tenants[0].Name, "Acme Corporation"; got != want {
		t.Errorf("tenant name after second push = %q, want %q", got, want)
	}
	if got := r.Revision(); got < rev2 {
		t.Errorf("Revision() = %d, want >= %d", got, rev2)
	}
	if !r.Ready() || !r.Current() {
		t.Errorf("Ready() = %v, Current() = %v, want both true", r.Ready(), r.Current())
	}
	hist, err := a.PolicyHistory(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Revision != rev1 || hist[1].Revision != rev2 || hist[1].Document != string(doc2) || hist[1].Actor != "tester" {
		t.Errorf("history = %d entries (revisions %v), want 2 at %d and %d with the documents", len(hist), revisions(hist), rev1, rev2)
	}
	waitFor(t, 10*time.Second, "member record at the second push", func() bool {
		ms, err := a.Members(context.Background())
		return err == nil && len(ms) == 1 && ms[0].Pod == "pod-a" && ms[0].Revision >= rev2 && ms[0].Digest != ""
	})
}

func revisions(h []HistoryEntry) []int64 {
	var out []int64
	for _, e := range h {
		out = append(out, e.Revision)
	}
	return out
}

func TestPushWritesEventInSameRevision(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := NewAdmin(cli, newPrefix(t))
	rev := push(t, a, examplePolicy(t))
	evs, err := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
	e := evs[0]
	if e.Action != ActionPolicyPush || e.Revision != rev || e.Actor != "tester" || e.Ticket != "T-1" || e.Details["digest"] == "" {
		t.Errorf("event = %+v, want policy.push at revision %d by tester with T-1 and a digest", e, rev)
	}
	got, gotRev, err := a.GetPolicy(context.Background())
	if err != nil || gotRev != rev || !bytes.Equal(got, examplePolicy(t)) {
		t.Errorf("GetPolicy = %d bytes at %d, %v; want the document at %d", len(got), gotRev, err, rev)
	}
}

func TestPushRefusesInvalidPolicy(t *testing.T) {
	t.Parallel()
	a := NewAdmin(dial(t, shared), newPrefix(t))
	_, err := a.PushPolicy(context.Background(), []byte("version: 1\nbogus: true\n"), 0, meta)
	var perr *policy.Error
	if !errors.As(err, &perr) {
		t.Fatalf("PushPolicy(unknown field) = %v, want a *policy.Error", err)
	}
	if _, _, err := a.GetPolicy(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetPolicy after refused push = %v, want ErrNotFound", err)
	}
}

// TestReadersSeeWholeMonotonicSnapshots pushes policies while readers load
// the Store: no reader may see the revision go backwards or a snapshot
// mixing two pushes (both tenant names carry the push number).
func TestReadersSeeWholeMonotonicSnapshots(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := NewAdmin(cli, prefix)
	gen := func(n int) []byte {
		d := bytes.Replace(examplePolicy(t), []byte("name: Acme Corp"), fmt.Appendf(nil, "name: gen-%d", n), 1)
		return bytes.Replace(d, []byte("name: Globex Inc"), fmt.Appendf(nil, "name: gen-%d", n), 1)
	}
	push(t, a, gen(0))
	r := runSyncer(t, cli, SyncConfig{Prefix: prefix})
	r.atRevision(t, 1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var loads atomic.Int64
	for range 2 {
		wg.Go(func() {
			var last int64
			for !stop.Load() {
				s := r.store.Load()
				if s.Revision < last {
					t.Errorf("revision went back from %d to %d", last, s.Revision)
					return
				}
				last = s.Revision
				if a, b := s.Doc.Tenants[0].Name, s.Doc.Tenants[1].Name; a != b {
					t.Errorf("snapshot at %d mixes pushes: %q and %q", s.Revision, a, b)
					return
				}
				loads.Add(1)
			}
		})
	}
	var rev int64
	for n := 1; n <= 30; n++ {
		rev = push(t, a, gen(n))
	}
	snap := r.atRevision(t, rev)
	stop.Store(true)
	wg.Wait()
	if got, want := snap.Doc.Tenants[0].Name, "gen-30"; got != want {
		t.Errorf("final tenant name = %q, want %q", got, want)
	}
	t.Logf("%d loads", loads.Load())
}

func TestConcurrentPushesWithExpectRevision(t *testing.T) {
	t.Parallel()
	a := NewAdmin(dial(t, shared), newPrefix(t))
	base := push(t, a, examplePolicy(t))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		doc := bytes.Replace(examplePolicy(t), []byte("name: Acme Corp"), fmt.Appendf(nil, "name: operator-%d", i), 1)
		wg.Go(func() { _, errs[i] = a.PushPolicy(context.Background(), doc, base, meta) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrConflict):
			t.Errorf("push %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d pushes won, want exactly 1", won)
	}
	if _, err := a.PushPolicy(context.Background(), examplePolicy(t), base, meta); !errors.Is(err, ErrConflict) {
		t.Errorf("push expecting stale revision %d = %v, want ErrConflict", base, err)
	}
}

// TestBadPolicyRefused writes a broken document with a raw Put, as an
// operator bypassing the CLI would: the old policy stays, the failure is
// counted once, and revocations still apply.
func TestBadPolicyRefused(t *testing.T) {
	t.Parallel()
	cli, prefix, a, r := deployment(t)
	good := r.atRevision(t, 1)
	if _, err := cli.Put(context.Background(), prefix+"/policy", "version: 1\ntenants: [{id: acme, nope: 1}]\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refusal to be counted", func() bool { return r.Failures() == 1 })
	if got := r.store.Load(); got.Digest != good.Digest {
		t.Errorf("snapshot changed after a bad policy")
	}
	if got := r.LastError(); !strings.Contains(got, "nope") {
		t.Errorf("LastError() = %q, want it to name the unknown field", got)
	}
	if got := r.store.Failures(); got != 1 {
		t.Errorf("store failures = %d, want 1", got)
	}
	if _, err := a.RevokeKey(context.Background(), "acmehris1", meta); err != nil {
		t.Fatalf("RevokeKey with a broken policy in etcd: %v", err)
	}
	rev, err := a.RevokeKey(context.Background(), JTIPrefix+"token-1", meta)
	if err != nil {
		t.Fatal(err)
	}
	snap := r.atRevision(t, rev)
	if !snap.JTIRevoked("token-1") || !snap.Key([]byte("acmehris1")).Revoked || snap.Doc.Tenants[0].Name != "Acme Corp" {
		t.Errorf("revocations under a refused policy: jti=%v key=%v tenant=%q, want both revoked with the old policy", snap.JTIRevoked("token-1"), snap.Key([]byte("acmehris1")).Revoked, snap.Doc.Tenants[0].Name)
	}
	if got := r.Failures(); got != 1 {
		t.Errorf("failures after a revocation = %d, want still 1", got)
	}
	rev = push(t, a, examplePolicy(t))
	r.atRevision(t, rev)
	if got := r.LastError(); got != "" {
		t.Errorf("LastError() after a good push = %q, want empty", got)
	}
}

// TestCompactionWhileWatchDown stops the Syncer, writes and compacts past
// its revision, and resumes it: the watch finds its start compacted, and
// the Syncer re-reads and ends up current.
func TestCompactionWhileWatchDown(t *testing.T) {
	t.Parallel()
	cli, _, a, r := deployment(t)
	r.atRevision(t, 1)
	r.stop()
	_, spec, err := a.CreateKey(context.Background(), "globex-bi", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := a.RevokeKey(context.Background(), "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(context.Background(), rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	r.stop = startRun(t, r.Syncer)
	t.Cleanup(r.stop)
	snap := r.atRevision(t, rev)
	if k := snap.Key([]byte(spec.ID)); k == nil {
		t.Errorf("key %s created while the watch was down is missing", spec.ID)
	}
	if k := snap.Key([]byte("acmehris1")); k == nil || !k.Revoked {
		t.Errorf("key acmehris1 revoked while the watch was down: %+v, want revoked", k)
	}
	if got := r.restarts.Load(); got < 1 {
		t.Errorf("watch restarts = %d, want at least 1", got)
	}
}

func TestEtcdRestart(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	a := NewAdmin(cli, "")
	push(t, a, examplePolicy(t))
	r := runSyncer(t, cli, SyncConfig{Progress: 100 * time.Millisecond})
	r.atRevision(t, 1)
	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	snap := r.atRevision(t, rev)
	if !snap.Key([]byte("acmehris1")).Revoked {
		t.Error("revocation after an etcd restart did not arrive")
	}
}

// TestStartWithEtcdDown starts a Syncer while etcd is down: it serves the
// last-known-good file another run left, then becomes current when etcd
// returns.
func TestStartWithEtcdDown(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	a := NewAdmin(cli, "")
	dir := t.TempDir()
	rev := push(t, a, examplePolicy(t))
	first := runSyncer(t, cli, SyncConfig{StateDir: dir})
	want := first.atRevision(t, rev)
	first.stop()
	e.Stop()

	r := runSyncer(t, cli, SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond})
	snap := r.atRevision(t, rev)
	if snap.Digest != want.Digest {
		t.Error("snapshot from the last-known-good file differs from the one saved")
	}
	if r.Current() || !r.Ready() {
		t.Errorf("on the last-known-good file: Current() = %v, Ready() = %v; want false, true", r.Current(), r.Ready())
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	rev2, err := a.RevokeKey(context.Background(), "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	snap = r.atRevision(t, rev2)
	if !snap.Key([]byte("acmehris1")).Revoked || !r.Current() {
		t.Errorf("after etcd returned: revoked=%v current=%v, want both true", snap.Key([]byte("acmehris1")).Revoked, r.Current())
	}
}

func TestSuspensionLapses(t *testing.T) {
	t.Parallel()
	_, _, a, r := deployment(t)
	r.atRevision(t, 1)
	s, err := a.Suspend(context.Background(), "acme-hris", time.Second, meta)
	if err != nil {
		t.Fatal(err)
	}
	if s.Until.Before(s.Time.Add(time.Second)) || s.Reason != "test" {
		t.Errorf("suspension = %+v, want until a second later with the reason", s)
	}
	waitFor(t, 10*time.Second, "acme-hris suspended", func() bool { return r.store.Load().Client("acme-hris").Suspended })
	// Nothing more is written: the lease lapses and etcd deletes the record.
	waitFor(t, 20*time.Second, "acme-hris resumed by the lease", func() bool { return !r.store.Load().Client("acme-hris").Suspended })
	if _, err := a.Suspend(context.Background(), "nobody", time.Minute, meta); !errors.Is(err, ErrNotFound) {
		t.Errorf("Suspend(unknown client) = %v, want ErrNotFound", err)
	}
}

func TestSuspendResume(t *testing.T) {
	t.Parallel()
	_, _, a, r := deployment(t)
	if _, err := a.Suspend(context.Background(), "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "globex-bi suspended", func() bool { s := r.store.Load(); return s != nil && s.Client("globex-bi").Suspended })
	if err := a.Resume(context.Background(), "globex-bi", meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "globex-bi resumed", func() bool { return !r.store.Load().Client("globex-bi").Suspended })
	if err := a.Resume(context.Background(), "globex-bi", meta); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Resume = %v, want ErrNotFound", err)
	}
	evs, _ := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got, want := strings.Join(actions, " "), "policy.push client.suspend client.resume"; got != want {
		t.Errorf("events = %s, want %s", got, want)
	}
}
