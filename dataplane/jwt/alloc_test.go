//go:build !race

package jwt

import (
	"testing"
	"time"
)

// TestCachedVerifyDoesNotAllocate guards the hot path: Verify of a token
// already in the cache. ristretto's Get records the access in a striped
// buffer that allocates one 512-byte batch per 64 Gets; AllocsPerRun
// reports the integer mean, so that amortised batch shows as 0.
func TestCachedVerifyDoesNotAllocate(t *testing.T) {
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	for _, alg := range []string{"RS256", "ES256", "HS256"} {
		tok := sign(ks[alg], nil, claimsAt(now, nil))
		if _, st := v.Verify(tok, now); st != OK {
			t.Fatalf("%s: %v", alg, st)
		}
		v.WaitCache()
		got := testing.AllocsPerRun(1000, func() {
			if _, st := v.Verify(tok, now); st != OK {
				t.Fatalf("%s cached: %v", alg, st)
			}
		})
		if got != 0 {
			t.Errorf("%s cached Verify: got %v allocs, want 0", alg, got)
		}
	}
}

// TestCachedDenialDoesNotAllocate: a cached token past its exp is
// refused on the cached path without allocating.
func TestCachedDenialDoesNotAllocate(t *testing.T) {
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	tok := sign(ks["ES256"], nil, claimsAt(now, nil))
	v.Verify(tok, now)
	v.WaitCache()
	later := now.Add(time.Hour)
	got := testing.AllocsPerRun(1000, func() {
		if _, st := v.Verify(tok, later); st != Expired {
			t.Fatalf("got %v", st)
		}
	})
	if got != 0 {
		t.Errorf("cached expired Verify: got %v allocs, want 0", got)
	}
}

func TestLooksLikeJWTDoesNotAllocate(t *testing.T) {
	tok := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
	if got := testing.AllocsPerRun(1000, func() { LooksLikeJWT(tok) }); got != 0 {
		t.Errorf("LooksLikeJWT: got %v allocs, want 0", got)
	}
}
