package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
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
	snap = settled("a key record deleted", func(s *policy.Snapshot) bool { return s.Key([]byte(bi.ID)) == nil })
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
