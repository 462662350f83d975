package authn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/portcullis/portcullis/policy"
)

const hrisKey = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"

func example(t testing.TB, live policy.Live) *policy.Snapshot {
	t.Helper()
	doc, err := policy.LoadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(doc, live)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func newKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := NewKeys(1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

func TestVerify(t *testing.T) {
	snap, keys := example(t, policy.Live{}), newKeys(t)
	now := time.Now().UnixNano()
	for i := 0; i < 2; i++ { // a miss, then a hit
		rec, id, hit := keys.Verify(snap, []byte(hrisKey), now)
		if rec == nil || rec.ID != "acmehris1" || string(id) != "acmehris1" || hit != (i == 1) {
			t.Fatalf("round %d: Verify = %v, %q, hit %v", i, rec, id, hit)
		}
		keys.Wait()
	}
	if hits, misses := keys.Stats(); hits != 0 || misses != 1 {
		t.Errorf("hits, misses = %d, %d; want 0 (front hits are the caller's to count), 1", hits, misses)
	}
	for _, bad := range []string{
		"pk_acmehris1_DemoAcmeHrisSecret000000000000000002", // wrong secret, known id
		"pk_acmehris1_DemoAcmeHrisSecret00000000000000000-", // not base62, known id
		"pk_nosuchkey_DemoAcmeHrisSecret000000000000000001", // unknown id
		"pk_revoked1_DemoRevokedSecret00000000000000000001", // revoked
		"pk_acmehris1_short", // malformed
		"",
	} {
		if rec, _, _ := keys.Verify(snap, []byte(bad), now); rec != nil {
			t.Errorf("Verify(%q) authenticated %s", bad, rec.ID)
		}
	}
	if rec, _, _ := keys.Verify(snap, []byte(hrisKey), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()); rec != nil {
		t.Error("a key before its not_before authenticated")
	}
}

// A cache hit is confirmed against the presented bytes: an entry cached
// under the same xxhash for other bytes never authenticates.
func TestCacheCollisionCannotAuthenticate(t *testing.T) {
	snap, keys := example(t, policy.Live{}), newKeys(t)
	forged := "pk_acmehris1_ForgedSecretForgedSecretForgedSecret01"
	// Plant the real key's digest under the forged key's hash, as a
	// collision would.
	keys.cache.Set(xxhash.Sum64String(forged), &entry{key: []byte(hrisKey), digest: sha256.Sum256([]byte(hrisKey))}, 1)
	keys.Wait()
	if rec, _, _ := keys.Verify(snap, []byte(forged), time.Now().UnixNano()); rec != nil {
		t.Fatal("a colliding cache entry authenticated a different key")
	}
}

// Revocation applies to a key whose verification is cached.
func TestRevocationAppliesToCachedKeys(t *testing.T) {
	keys := newKeys(t)
	now := time.Now().UnixNano()
	if rec, _, _ := keys.Verify(example(t, policy.Live{}), []byte(hrisKey), now); rec == nil {
		t.Fatal("not verified")
	}
	keys.Wait()
	revoked := example(t, policy.Live{RevokedKeys: map[string]bool{"acmehris1": true}})
	if rec, _, _ := keys.Verify(revoked, []byte(hrisKey), now); rec != nil {
		t.Fatal("a revoked key authenticated from the cache")
	}
	if hits, _ := keys.Stats(); hits != 1 {
		t.Errorf("the revoked check did not go through the cache: hits = %d", hits)
	}
}

func TestEqual(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"", "", true}, {"a", "a", true}, {"a", "b", false}, {"abc", "ab", false},
		{hrisKey, hrisKey, true}, {hrisKey, hrisKey[:len(hrisKey)-1] + "2", false}, {"x" + hrisKey[1:], hrisKey, false},
		{"12345678", "12345679", false}, {"123456781", "123456782", false},
	} {
		if got := equal([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("equal(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// TestEqualEveryByte checks that equal sees a difference in any one byte,
// in any bit, at every length up to five words: the word loop, the
// overlapping last word and the short keys' byte loop all read every byte.
func TestEqualEveryByte(t *testing.T) {
	for n := range 41 {
		a := make([]byte, n)
		for i := range a {
			a[i] = byte(i*7 + 1)
		}
		if !equal(a, append([]byte(nil), a...)) {
			t.Fatalf("equal(%x, itself) = false", a)
		}
		for i := range n {
			for bit := range 8 {
				b := append([]byte(nil), a...)
				b[i] ^= 1 << bit
				if equal(a, b) || equal(b, a) {
					t.Fatalf("equal(%x, %x) = true: byte %d differs", a, b, i)
				}
			}
		}
	}
}

// The front is per snapshot and per key record: bytes that verified against
// one record never authenticate against a record with another digest, and
// a warm slot never admits other bytes under the same id.
func TestFrontIsPerRecord(t *testing.T) {
	keys := newKeys(t)
	now := time.Now().UnixNano()
	old := example(t, policy.Live{})
	if rec, _, _ := keys.Verify(old, []byte(hrisKey), now); rec == nil {
		t.Fatal("not verified")
	}
	keys.Wait()
	if rec, _, hit := keys.Verify(old, []byte(hrisKey), now); rec == nil || !hit {
		t.Fatalf("second Verify: %v, hit %v; want verified from the front", rec, hit)
	}

	// The same id re-issued with another secret: the old bytes are stale.
	doc, err := policy.LoadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rotated := "pk_acmehris1_RotatedSecretRotatedSecretRotated001"
	sum := sha256.Sum256([]byte(rotated))
	for i := range doc.Keys {
		if doc.Keys[i].ID == "acmehris1" {
			doc.Keys[i].SHA256 = hex.EncodeToString(sum[:])
		}
	}
	next, err := policy.Compile(doc, policy.Live{})
	if err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := keys.Verify(next, []byte(hrisKey), now); rec != nil {
		t.Fatal("bytes cached for the old record authenticated against the new one")
	}
	if rec, _, _ := keys.Verify(next, []byte(rotated), now); rec == nil {
		t.Fatal("the rotated key did not verify")
	}

	// With the front warm, other bytes under the same id still fail.
	if rec, _, _ := keys.Verify(next, []byte(rotated[:len(rotated)-1]+"2"), now); rec != nil {
		t.Fatal("a wrong secret authenticated while the front held the right key")
	}
}

// A front slot is confirmed against the presented bytes: an entry stored
// under the same front hash for other bytes never authenticates, and a key
// whose slot another key took still verifies, the long way.
func TestFrontCollisions(t *testing.T) {
	snap, keys := example(t, policy.Live{}), newKeys(t)
	now := time.Now().UnixNano()
	admin := snap.Key([]byte("acmeadm1"))
	forged := []byte("pk_acmehris1_ForgedSecretForgedSecretForgedSecret01")
	f := keys.frontFor(snap)
	h := frontHash(forged)
	f.slots[h&f.mask].Store(&frontEntry{hash: h, key: []byte(hrisKey), rec: admin})
	if rec, _, _ := keys.Verify(snap, forged, now); rec != nil {
		t.Fatal("a colliding front entry authenticated a different key")
	}

	h = frontHash([]byte(hrisKey))
	f.slots[h&f.mask].Store(&frontEntry{hash: h, key: forged, rec: admin})
	rec, id, _ := keys.Verify(snap, []byte(hrisKey), now)
	if rec == nil || rec.ID != "acmehris1" || string(id) != "acmehris1" {
		t.Fatalf("a key whose slot was taken: Verify = %v, %q; want acmehris1", rec, id)
	}
	if e := f.slots[h&f.mask].Load(); e.rec != rec || string(e.key) != hrisKey {
		t.Errorf("the slot was not given back to the key that verified: %+v", e)
	}
}

// The front hash spreads keys that differ anywhere over the slots.
func TestFrontHashSpreads(t *testing.T) {
	const n, slots = 4096, 8192
	used := map[uint64]bool{}
	for i := range n {
		used[frontHash([]byte(fmt.Sprintf("pk_client%04d_DemoSecret%031d", i%7, i)))%slots] = true
	}
	// Random placement fills slots*(1-exp(-n/slots)) = 3223 slots.
	if len(used) < 3000 {
		t.Errorf("%d keys took %d of %d slots, want about 3223", n, len(used), slots)
	}
}

// VerifyFront tells a revoked key presented with its secret (from the
// digest, then from the front) from a wrong secret under its id, and
// neither authenticates; neither allocates once the front holds the key.
func TestVerifyFrontRevoked(t *testing.T) {
	keys := newKeys(t)
	now := time.Now().UnixNano()
	f := NewFront(example(t, policy.Live{RevokedKeys: map[string]bool{"acmehris1": true}}))
	wrong := []byte("pk_acmehris1_WrongSecretWrongSecretWrongSecret0001")
	for i, want := range []bool{false, true} {
		rec, id, hit, revoked := keys.VerifyFront(f, []byte(hrisKey), now)
		if rec != nil || string(id) != "acmehris1" || hit != want || !revoked {
			t.Errorf("round %d: revoked key = %v, %q, hit %v, revoked %v; want nil, acmehris1, hit %v, revoked", i, rec, id, hit, revoked, want)
		}
		if rec, id, _, revoked := keys.VerifyFront(f, wrong, now); rec != nil || string(id) != "acmehris1" || revoked {
			t.Errorf("round %d: wrong secret = %v, %q, revoked %v; want nil, acmehris1, not revoked", i, rec, id, revoked)
		}
		keys.Wait()
	}
	key := []byte(hrisKey)
	if n := testing.AllocsPerRun(100, func() { keys.VerifyFront(f, key, now) }); n != 0 {
		t.Errorf("a revoked key from the front allocates %v", n)
	}
}
