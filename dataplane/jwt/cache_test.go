package jwt

import (
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

func TestCacheHit(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	tok := sign(ks["RS256"], nil, claimsAt(now, nil))
	first, st := v.Verify(tok, now)
	if st != OK {
		t.Fatalf("first Verify: got %v", st)
	}
	v.WaitCache()
	second, st := v.Verify(tok, now)
	if st != OK || second != first {
		t.Errorf("second Verify: got %v, %p, want ok and the cached %p", st, second, first)
	}
	s := v.Stats()
	if s.CacheHits != 1 || s.CacheMisses != 1 || s.ByStatus[OK] != 2 {
		t.Errorf("stats: got hits %d misses %d ok %d, want 1 1 2", s.CacheHits, s.CacheMisses, s.ByStatus[OK])
	}
}

// TestCacheRechecksTime: a cached token is refused once expired, and an
// entry's TTL never outlives the token.
func TestCacheRechecksTime(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	exp := now.Add(2 * time.Minute)
	tok := sign(ks["EdDSA"], nil, claimsAt(now, map[string]any{"exp": exp.Unix()}))
	if _, st := v.Verify(tok, now); st != OK {
		t.Fatalf("Verify: got %v", st)
	}
	v.WaitCache()
	skew := v.cfg.Issuers[0].ClockSkew
	if _, st := v.Verify(tok, exp.Add(skew+time.Second)); st != Expired {
		t.Errorf("cached token after exp: got %v, want expired", st)
	}
	if s := v.Stats(); s.CacheHits != 1 {
		t.Errorf("the expiry must be found on the cached path: hits %d", s.CacheHits)
	}
	ttl, ok := v.cache.c.GetTTL(xxhash.Sum64(tok))
	if !ok || ttl <= 0 || ttl > exp.Add(skew).Sub(now) {
		t.Errorf("ttl: got %v (%v), want in (0, %v]", ttl, ok, exp.Add(skew).Sub(now))
	}
}

// TestCacheCollision plants an entry for another token under the xxhash
// of tok: the hit must be refused by the byte comparison.
func TestCacheCollision(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	victim := sign(ks["ES256"], nil, claimsAt(now, map[string]any{"sub": "admin"}))
	c, st := v.Verify(victim, now)
	if st != OK {
		t.Fatal(st)
	}
	forged := []byte(string(victim[:len(victim)-4]) + "AAAA")
	e := &entry{token: victim, claims: c, is: v.issuers[testIss]}
	v.cache.c.Set(xxhash.Sum64(forged), e, 1)
	v.WaitCache()
	if got, _ := v.cache.c.Get(xxhash.Sum64(forged)); got != e {
		t.Fatal("planted entry missing")
	}
	if _, st := v.Verify(forged, now); st != BadSignature {
		t.Errorf("token colliding with a cached one: got %v, want bad_signature", st)
	}
}

// TestCachedFailuresNotCached: refused tokens never enter the cache.
func TestCachedFailuresNotCached(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	tok := sign(ks["ES256"], nil, claimsAt(now, map[string]any{"aud": "other"}))
	for range 2 {
		v.Verify(tok, now)
		v.WaitCache()
	}
	if s := v.Stats(); s.CacheHits != 0 || s.ByStatus[BadAudience] != 2 {
		t.Errorf("stats: got hits %d bad_audience %d, want 0 and 2", s.CacheHits, s.ByStatus[BadAudience])
	}
}

func TestVerifyAfterClose(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	tok := sign(ks["HS256"], nil, claimsAt(now, nil))
	v.Close()
	v.Close()
	if _, st := v.Verify(tok, now); st != OK {
		t.Errorf("after Close: got %v, want ok", st)
	}
}

func TestEqualCT(t *testing.T) {
	t.Parallel()
	base := make([]byte, 1000)
	for i := range base {
		base[i] = byte(i * 7)
	}
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 1000} {
		a := base[:n]
		if !equalCT(a, append([]byte(nil), a...)) {
			t.Errorf("len %d: equal slices reported different", n)
		}
		step := 1 // every byte of every word lane and of the tail
		if n > 100 {
			step = n / 13
		}
		for i := 0; i < n; i += step {
			b := append([]byte(nil), a...)
			b[i] ^= 0x80
			if equalCT(a, b) {
				t.Errorf("len %d: difference at %d not found", n, i)
			}
		}
	}
	if equalCT([]byte("ab"), []byte("abc")) {
		t.Error("different lengths reported equal")
	}
}

// A verified token is answered from the front table next, and a front
// entry planted under another token's hash never authenticates it.
func TestCacheFront(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	tok := sign(ks["ES256"], nil, claimsAt(now, map[string]any{"sub": "admin"}))
	c, st := v.Verify(tok, now)
	if st != OK {
		t.Fatal(st)
	}
	v.WaitCache()
	v.Verify(tok, now) // a hit: the verification stored the entry in the front
	h := tokenHash(tok)
	e := v.cache.front[h&v.cache.mask].Load()
	if e == nil || e.hash != h || string(e.token) != string(tok) {
		t.Fatalf("front slot holds %+v, want the token's entry", e)
	}
	if got, st := v.Verify(tok, now); st != OK || got != c {
		t.Fatalf("front hit: got %v, %p; want ok and %p", st, got, c)
	}
	if s := v.Stats(); s.CacheHits != 2 {
		t.Errorf("hits %d, want 2", s.CacheHits)
	}

	forged := []byte(string(tok[:len(tok)-4]) + "AAAA")
	fh := tokenHash(forged)
	v.cache.front[fh&v.cache.mask].Store(&entry{hash: fh, token: tok, claims: c, is: v.issuers[testIss], epoch: e.epoch})
	if _, st := v.Verify(forged, now); st != BadSignature {
		t.Errorf("token whose front slot holds another token: got %v, want bad_signature", st)
	}
}

// After one of its issuer's keys was dropped, a cached token is verified
// again in full, and if it still verifies its fresh entry is what later
// requests hit, not the stale one (which would cost a full verification
// on every request).
func TestCacheRefreshAfterEpoch(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	tok := sign(ks["EdDSA"], nil, claimsAt(now, nil))
	for range 2 { // verified, then a hit that leaves it in the front
		if _, st := v.Verify(tok, now); st != OK {
			t.Fatal(st)
		}
		v.WaitCache()
	}
	v.issuers[testIss].epoch.Add(1) // another key was dropped
	if _, st := v.Verify(tok, now); st != OK {
		t.Fatalf("after the epoch: got %v", st)
	}
	v.WaitCache()
	before := v.Stats()
	if _, st := v.Verify(tok, now); st != OK {
		t.Fatal(st)
	}
	if after := v.Stats(); after.CacheHits != before.CacheHits+1 || after.CacheMisses != before.CacheMisses {
		t.Errorf("third Verify: hits %d -> %d, misses %d -> %d; want a hit", before.CacheHits, after.CacheHits, before.CacheMisses, after.CacheMisses)
	}
}
