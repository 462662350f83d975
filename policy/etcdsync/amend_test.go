package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Revocations and suspensions reach the Store through the watch as the
// snapshot a full compile of the same state in etcd gives (its digest
// included), without a compile: the amended snapshots keep the document
// (with the key records merged in) of the snapshot they amend. A new key
// record or a new policy is compiled again, and the next revocation amends
// that.
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
	amended := func(what string, snap, from *policy.Snapshot) {
		t.Helper()
		if snap.Doc != from.Doc {
			t.Errorf("%s was compiled again, want it amended", what)
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
	base := settled("two key records", func(s *policy.Snapshot) bool { return s.Key([]byte(bi.ID)) != nil && s.Key([]byte(hris.ID)) != nil })

	if _, err := a.RevokeKey(ctx, hris.ID, meta); err != nil {
		t.Fatal(err)
	}
	snap := settled("a revocation", func(s *policy.Snapshot) bool { return s.Key([]byte(hris.ID)).Revoked })
	amended("a revocation", snap, base)
	if !snap.Key([]byte(bi.ID)).ValidAt(now()) {
		t.Fatal("revoking one key made another invalid")
	}

	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	snap = settled("a suspension", func(s *policy.Snapshot) bool { return s.Client("globex-bi").Suspended })
	amended("a suspension", snap, base)
	if snap.Key([]byte(bi.ID)).ValidAt(now()) || !snap.Key([]byte(hris.ID)).Revoked {
		t.Fatal("after the suspension, the suspended client's key is valid or the revocation was lost")
	}

	if err := a.Resume(ctx, "globex-bi", meta); err != nil {
		t.Fatal(err)
	}
	snap = settled("the suspension's end", func(s *policy.Snapshot) bool { return !s.Client("globex-bi").Suspended })
	amended("the suspension's end", snap, base)
	if !snap.Key([]byte(bi.ID)).ValidAt(now()) {
		t.Fatal("the resumed client's key is not valid")
	}

	_, more, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt := settled("a key record", func(s *policy.Snapshot) bool { return s.Key([]byte(more.ID)) != nil })
	if rebuilt.Doc == base.Doc {
		t.Fatal("a new key record was amended in, want a compile")
	}
	if _, err := a.RevokeKey(ctx, more.ID, meta); err != nil {
		t.Fatal(err)
	}
	snap = settled("a revocation after a compile", func(s *policy.Snapshot) bool { return s.Key([]byte(more.ID)).Revoked })
	amended("a revocation after a compile", snap, rebuilt)
	if !snap.Key([]byte(hris.ID)).Revoked {
		t.Fatal("the earlier revocation was lost")
	}

	push(t, a, append(examplePolicy(t), "\n# a new revision of the document\n"...))
	snap = settled("a new policy", func(s *policy.Snapshot) bool { return s.Doc != rebuilt.Doc && s.Key([]byte(more.ID)) != nil })
	if !snap.Key([]byte(more.ID)).Revoked || !snap.Key([]byte(hris.ID)).Revoked {
		t.Fatal("a new policy lost the revocations")
	}
}
