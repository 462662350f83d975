package etcdsync_test

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
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestReadersSeeWholeMonotonicSnapshots pushes policies while readers load
// the Store: no reader may see the revision go backwards or a snapshot
// mixing two pushes (both tenant names carry the push number).
func TestReadersSeeWholeMonotonicSnapshots(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := etcdadmin.New(cli, prefix)
	gen := func(n int) []byte {
		d := bytes.Replace(examplePolicy(t), []byte("name: Acme Corp"), fmt.Appendf(nil, "name: gen-%d", n), 1)
		return bytes.Replace(d, []byte("name: Globex Inc"), fmt.Appendf(nil, "name: gen-%d", n), 1)
	}
	push(t, a, gen(0))
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix})
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

// TestBadPolicyRefused writes a broken document with a raw Put, as an
// operator bypassing the CLI would: the old policy stays, the failure is
// counted once, and revocations still apply.
func TestBadPolicyRefused(t *testing.T) {
	t.Parallel()
	cli, prefix, a, r := newDeployment(t)
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
	rev, err := a.RevokeKey(context.Background(), etcdsync.JTIPrefix+"token-1", meta)
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
	cli, _, a, r := newDeployment(t)
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
	if got := r.Restarts(); got < 1 {
		t.Errorf("watch restarts = %d, want at least 1", got)
	}
}

func TestEtcdRestart(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	a := etcdadmin.New(cli, "")
	push(t, a, examplePolicy(t))
	r := runSyncer(t, cli, etcdsync.SyncConfig{Progress: 100 * time.Millisecond})
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
	a := etcdadmin.New(cli, "")
	dir := t.TempDir()
	rev := push(t, a, examplePolicy(t))
	first := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	want := first.atRevision(t, rev)
	first.stop()
	e.Stop()

	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond})
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
	_, _, a, r := newDeployment(t)
	r.atRevision(t, 1)
	// The suspension is in force only until its lease (etcd's shortest,
	// about 2 s) runs out: a poll of the Store had to fall in that window,
	// which a loaded machine does not promise. Every snapshot the Syncer
	// installs is seen here instead.
	var suspended atomic.Bool
	defer r.store.AddPreparer(func(s *policy.Snapshot) {
		if c := s.Client("acme-hris"); c != nil && c.Suspended {
			suspended.Store(true)
		}
	})()
	s, err := a.Suspend(context.Background(), "acme-hris", time.Second, meta)
	if err != nil {
		t.Fatal(err)
	}
	if s.Until.Before(s.Time.Add(time.Second)) || s.Reason != meta.Reason {
		t.Errorf("suspension = %+v, want until a second later with the reason", s)
	}
	waitFor(t, 10*time.Second, "acme-hris suspended", suspended.Load)
	// Nothing more is written: the lease lapses and etcd deletes the record.
	waitFor(t, 20*time.Second, "acme-hris resumed by the lease", func() bool { return !r.store.Load().Client("acme-hris").Suspended })
	if _, err := a.Suspend(context.Background(), "nobody", time.Minute, meta); !errors.Is(err, etcdadmin.ErrNotFound) {
		t.Errorf("Suspend(unknown client) = %v, want ErrNotFound", err)
	}
}
