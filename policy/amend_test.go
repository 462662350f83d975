package policy_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/policytest"
)

// amendDoc is a policy of 20 clients over 5 tenants with 10 key records
// in the document (the first revoked by its own record) and 40 more as
// live records, and two clients mapped from certificate identities.
func amendDoc(t *testing.T) (*policy.Document, policy.Live) {
	t.Helper()
	doc, _ := policytest.Document(policytest.Size{Tenants: 5, Clients: 20, Keys: 10, Routes: 3})
	doc.Keys[0].Revoked = true
	doc.Clients[3].MTLSIdentities = []string{"spiffe://test/c3"}
	doc.Clients[7].MTLSIdentities = []string{"spiffe://test/c7a", "spiffe://test/c7b"}
	live := policy.Live{Revision: 1, RevokedKeys: map[string]bool{}, RevokedJTIs: map[string]bool{}, Suspended: map[string]struct{}{}}
	for i := 10; i < 50; i++ {
		_, ks := policytest.Key(i, policytest.ClientID(i%20))
		live.Keys = append(live.Keys, ks)
	}
	return doc, live
}

// oldDigest is the digest as it was defined before Amend: SHA-256 of one
// JSON object of the document, the key records, and the sorted
// revocations and suspensions. Amend must not change what a digest is.
func oldDigest(t *testing.T, doc *policy.Document, live policy.Live) [32]byte {
	t.Helper()
	sorted := func(m map[string]bool) []string {
		m = maps.Clone(m)
		maps.DeleteFunc(m, func(_ string, revoked bool) bool { return !revoked })
		return slices.Sorted(maps.Keys(m))
	}
	suspended := slices.Sorted(maps.Keys(live.Suspended))
	b, err := json.Marshal(struct {
		Doc         *policy.Document
		Keys        []policy.KeySpec
		RevokedKeys []string
		RevokedJTIs []string
		Suspended   []string
	}{doc, live.Keys, sorted(live.RevokedKeys), sorted(live.RevokedJTIs), suspended})
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// view is policytest.View of s with its revision, over every key id of
// amendDoc and two no record has, and six token ids.
func view(s *policy.Snapshot, now time.Time) map[string]string {
	var ids, jtis []string
	for i := range 52 {
		ids = append(ids, policytest.KeyID(i))
	}
	for i := range 6 {
		jtis = append(jtis, fmt.Sprintf("jti-%d", i))
	}
	v := policytest.View(s, now.UnixNano(), ids, jtis)
	v["revision"] = fmt.Sprint(s.Revision)
	return v
}

// Amend gives, change after change, the snapshot Compile gives for the
// same state, digest included, and never changes the snapshot it amends.
func TestAmendMatchesCompile(t *testing.T) {
	doc, live := amendDoc(t)
	now := time.Now()
	prev, err := policy.Compile(doc, live)
	if err != nil {
		t.Fatal(err)
	}
	if prev.Digest != oldDigest(t, doc, live) {
		t.Fatal("Compile's digest is not the digest of the document, keys, revocations and suspensions")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 300 {
		next := policy.Live{Revision: live.Revision + 1, Keys: live.Keys,
			RevokedKeys: maps.Clone(live.RevokedKeys), RevokedJTIs: maps.Clone(live.RevokedJTIs), Suspended: maps.Clone(live.Suspended)}
		var change string
		switch rng.IntN(4) {
		case 0, 1: // a key id, the one revoked by its record, or one that has no record
			id := policytest.KeyID(rng.IntN(52))
			switch {
			case !next.RevokedKeys[id]:
				next.RevokedKeys[id] = true
			case rng.IntN(4) == 0: // a false entry revokes nothing
				next.RevokedKeys[id] = false
			default: // the record deleted, as State.live leaves it out
				delete(next.RevokedKeys, id)
			}
			change = "revocation " + id
		case 2:
			id := policytest.ClientID(rng.IntN(22))
			if _, ok := next.Suspended[id]; ok {
				delete(next.Suspended, id)
			} else {
				next.Suspended[id] = struct{}{}
			}
			change = "suspension " + id
		case 3:
			jti := fmt.Sprintf("jti-%d", rng.IntN(6))
			switch {
			case !next.RevokedJTIs[jti]:
				next.RevokedJTIs[jti] = true
			case rng.IntN(4) == 0: // a false entry revokes nothing
				next.RevokedJTIs[jti] = false
			default:
				delete(next.RevokedJTIs, jti)
			}
			change = "revocation of token " + jti
		}
		before := view(prev, now)
		amended, err := policy.Amend(prev, next)
		if err != nil {
			t.Fatalf("step %d (%s): Amend: %v", step, change, err)
		}
		compiled, err := policy.Compile(doc, next)
		if err != nil {
			t.Fatal(err)
		}
		if compiled.Digest != oldDigest(t, doc, next) {
			t.Fatalf("step %d (%s): Compile's digest changed meaning", step, change)
		}
		got, want := view(amended, now), view(compiled, now)
		for k, w := range want {
			if got[k] != w {
				t.Errorf("step %d (%s): amended %s = %q, compiled %q", step, change, k, got[k], w)
			}
		}
		for k, b := range view(prev, now) {
			if before[k] != b {
				t.Errorf("step %d (%s): the amended snapshot's %s changed from %q to %q", step, change, k, before[k], b)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		if amended.KeyCount() != compiled.KeyCount() || len(amended.SkippedKeys) != len(compiled.SkippedKeys) {
			t.Fatalf("step %d: %d keys, %d skipped; compiled %d, %d", step, amended.KeyCount(), len(amended.SkippedKeys), compiled.KeyCount(), len(compiled.SkippedKeys))
		}
		prev, live = amended, next
	}
	// The walk went through every kind of change, both ways.
	if len(live.RevokedKeys) == 0 || len(live.RevokedJTIs) == 0 {
		t.Fatalf("the walk ended with revocations %v, token revocations %v: the test lost its reach", live.RevokedKeys, live.RevokedJTIs)
	}
}

// A key revoked by its own record stays revoked when a revocation of it
// comes and goes.
func TestAmendKeepsRecordRevocation(t *testing.T) {
	doc, live := amendDoc(t)
	snap, err := policy.Compile(doc, live)
	if err != nil {
		t.Fatal(err)
	}
	id := policytest.KeyID(0)
	for _, revoked := range []bool{true, false} {
		next := live
		next.RevokedKeys = map[string]bool{id: revoked}
		if snap, err = policy.Amend(snap, next); err != nil {
			t.Fatal(err)
		}
		if !snap.Key([]byte(id)).Revoked {
			t.Fatalf("key %s, revoked by its record, is not revoked after a revocation set to %v", id, revoked)
		}
	}
}

// Only a compiled snapshot can be amended: a zero Snapshot has no digest
// to continue.
func TestAmendRefusesUncompiled(t *testing.T) {
	if _, err := policy.Amend(&policy.Snapshot{Revision: 4}, policy.Live{}); err == nil {
		t.Fatal("Amend of a snapshot that was not compiled succeeded")
	}
}
