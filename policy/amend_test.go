package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/policytest"
)

// amendDoc is a policy of 20 clients over 5 tenants with 10 key records
// in the document (the first revoked by its own record) and 40 more as
// live records, two clients mapped from certificate identities, and a
// max_key_age that some document keys are past.
func amendDoc(t *testing.T) (*policy.Document, policy.Live) {
	t.Helper()
	doc, _ := policytest.Document(policytest.Size{Tenants: 5, Clients: 20, Keys: 10, Routes: 3})
	doc.Keys[0].Revoked = true
	doc.Lifecycle = &policy.LifecycleSpec{MaxKeyAge: "720h"}
	for i := range doc.Keys {
		doc.Keys[i].CreatedAt = time.Now().Add(-time.Duration(i) * 100 * time.Hour).UTC().Format(time.RFC3339)
	}
	doc.Clients[3].MTLSIdentities = []string{"spiffe://test/c3"}
	doc.Clients[7].MTLSIdentities = []string{"spiffe://test/c7a", "spiffe://test/c7b"}
	live := policy.Live{Revision: 1, RevokedKeys: map[string]bool{}, RevokedJTIs: map[string]bool{}, Suspended: map[string]struct{}{}}
	for i := 10; i < 50; i++ {
		_, ks := policytest.Key(i, policytest.ClientID(i%20))
		live.Keys = append(live.Keys, ks)
	}
	return doc, live
}

// wantDigest is the digest as Compile defines it: SHA-256 of one JSON
// object of the document, the digest of the live key records, and the
// sorted revocations and suspensions. The digest of the key records is
// the SHA-256 of 256 bucket digests; bucket i is the SHA-256 of the
// SHA-256s of the JSON of the records whose id has a 64-bit FNV-1a hash
// of i modulo 256, in id order. Amend must give the digest a compile gives.
func wantDigest(t *testing.T, doc *policy.Document, live policy.Live) [32]byte {
	t.Helper()
	sorted := func(m map[string]bool) []string {
		m = maps.Clone(m)
		maps.DeleteFunc(m, func(_ string, revoked bool) bool { return !revoked })
		return slices.Sorted(maps.Keys(m))
	}
	keys := slices.Clone(live.Keys)
	slices.SortStableFunc(keys, func(a, b policy.KeySpec) int { return strings.Compare(a.ID, b.ID) })
	var buckets [256][]byte
	for _, ks := range keys {
		b, err := json.Marshal(ks)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		h := fnv.New64a()
		h.Write([]byte(ks.ID))
		i := h.Sum64() % 256
		buckets[i] = append(buckets[i], sum[:]...)
	}
	all := sha256.New()
	for _, b := range buckets {
		sum := sha256.Sum256(b)
		all.Write(sum[:])
	}
	suspended := slices.Sorted(maps.Keys(live.Suspended))
	b, err := json.Marshal(struct {
		Doc         *policy.Document
		Keys        string
		RevokedKeys []string
		RevokedJTIs []string
		Suspended   []string
	}{doc, hex.EncodeToString(all.Sum(nil)), sorted(live.RevokedKeys), sorted(live.RevokedJTIs), suspended})
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// view is policytest.View of s with its revision and skipped records,
// over every key id the walk of TestAmendMatchesCompile uses and two no
// record has, and six token ids.
func view(s *policy.Snapshot, now time.Time) map[string]string {
	var ids, jtis []string
	for i := range 62 {
		ids = append(ids, policytest.KeyID(i))
	}
	for i := range 6 {
		jtis = append(jtis, fmt.Sprintf("jti-%d", i))
	}
	v := policytest.View(s, now.UnixNano(), ids, jtis)
	v["revision"] = fmt.Sprint(s.Revision)
	v["skipped"] = strings.Join(s.SkippedKeys, "; ")
	return v
}

// Amend gives, change after change, the snapshot Compile gives for the
// same state, digest included, and never changes the snapshot it amends.
// The changes are revocations, token revocations and suspensions (and
// their removals), and key records put, edited and deleted, a few at a
// time: new ids, records of a document key's id or of an unknown client
// (skipped), records revoked by their own field.
func TestAmendMatchesCompile(t *testing.T) {
	doc, live := amendDoc(t)
	records := map[string]policy.KeySpec{}
	for _, ks := range live.Keys {
		records[ks.ID] = ks
	}
	now := time.Now()
	prev, err := policy.Compile(doc, live)
	if err != nil {
		t.Fatal(err)
	}
	if prev.Digest != wantDigest(t, doc, live) {
		t.Fatal("Compile's digest is not the digest of the document, keys, revocations and suspensions")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var puts, deletes, skips int
	for step := range 600 {
		next := policy.Live{Revision: live.Revision + 1, Keys: live.Keys,
			RevokedKeys: maps.Clone(live.RevokedKeys), RevokedJTIs: maps.Clone(live.RevokedJTIs), Suspended: maps.Clone(live.Suspended)}
		var edits policy.KeyEdits
		var change string
		switch rng.IntN(6) {
		case 0, 1: // a key id, the one revoked by its record, or one that has no record
			id := policytest.KeyID(rng.IntN(62))
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
		case 4, 5:
			edits = policy.KeyEdits{}
			for range 1 + rng.IntN(3) {
				i := rng.IntN(60) // 0-9 are the document's ids: skipped as duplicates
				id := policytest.KeyID(i)
				if _, ok := records[id]; ok && rng.IntN(3) == 0 {
					delete(records, id)
					edits[id] = nil
					change += " delete " + id
					deletes++
					continue
				}
				_, ks := policytest.Key(i, policytest.ClientID(rng.IntN(22))) // clients 20 and 21 are unknown
				switch rng.IntN(5) {
				case 0:
					ks.NotAfter = now.Add(time.Duration(rng.IntN(3)-1) * time.Hour).UTC().Format(time.RFC3339)
				case 1:
					ks.Revoked = true
				case 2: // younger or older than max_key_age; without it, of unknown age
					ks.CreatedAt = now.Add(-time.Duration(rng.IntN(1440)) * time.Hour).UTC().Format(time.RFC3339)
				case 3: // the same id for another secret
					sum := sha256.Sum256(fmt.Appendf(nil, "secret %d", step))
					ks.SHA256 = hex.EncodeToString(sum[:])
				}
				records[id] = ks
				edits[id] = &ks
				change += " put " + id + " for " + ks.Client
				puts++
			}
			next.Keys = slices.SortedFunc(maps.Values(records), func(a, b policy.KeySpec) int { return strings.Compare(a.ID, b.ID) })
		}
		before := view(prev, now)
		amended, err := policy.Amend(prev, next, edits)
		if err != nil {
			t.Fatalf("step %d (%s): Amend: %v", step, change, err)
		}
		compiled, err := policy.Compile(doc, next)
		if err != nil {
			t.Fatal(err)
		}
		if compiled.Digest != wantDigest(t, doc, next) {
			t.Fatalf("step %d (%s): Compile's digest changed meaning", step, change)
		}
		skips += len(compiled.SkippedKeys)
		got, want := view(amended, now), view(compiled, now)
		for k, w := range want {
			if got[k] != w {
				t.Errorf("step %d (%s): amended %s = %q, compiled %q", step, change, k, got[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("step %d (%s): amended view has %d entries, compiled %d", step, change, len(got), len(want))
		}
		for k, b := range view(prev, now) {
			if before[k] != b {
				t.Errorf("step %d (%s): the amended snapshot's %s changed from %q to %q", step, change, k, before[k], b)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		prev, live = amended, next
	}
	// The walk went through every kind of change, both ways.
	if len(live.RevokedKeys) == 0 || len(live.RevokedJTIs) == 0 || puts < 100 || deletes < 30 || skips == 0 {
		t.Fatalf("the walk ended with revocations %v, token revocations %v, after %d puts, %d deletes, %d skipped records: the test lost its reach",
			live.RevokedKeys, live.RevokedJTIs, puts, deletes, skips)
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
		if snap, err = policy.Amend(snap, next, nil); err != nil {
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
	if _, err := policy.Amend(&policy.Snapshot{Revision: 4}, policy.Live{}, nil); err == nil {
		t.Fatal("Amend of a snapshot that was not compiled succeeded")
	}
}
