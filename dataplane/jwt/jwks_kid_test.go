package jwt

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"
)

// TestSharedKidTriesEveryKey: of the keys of a JWKS sharing a kid, only
// the first that fitted the token's alg was tried, so when a provider
// rotating its key published the new key under the old kid, beside the
// old one, a valid token signed by the new key was refused as
// bad_signature. Every key with the token's kid and a fitting alg is now
// tried, in the set's order, up to maxKIDKeys of them; a key of another
// type under that kid is skipped without counting, and a token no key
// verifies is still refused.
func TestSharedKidTriesEveryKey(t *testing.T) {
	const bound = 4 // maxKIDKeys, the bound the README states
	t.Parallel()
	rsaKey := testKeys()["RS256"]
	rsaKey.kid = "ed-1"
	set := []testKey{rsaKey}
	for range bound + 1 {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		set = append(set, testKey{alg: "EdDSA", kid: "ed-1", priv: priv})
	}
	p := newProvider(t, jwks(set...))
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: time.Hour})
	now := time.Now()
	for i, k := range set[1:] {
		tok := sign(k, nil, claimsAt(now, map[string]any{"jti": fmt.Sprint("jti-", i)}))
		want := OK
		if i >= bound {
			want = BadSignature
		}
		if _, st := v.Verify(tok, now); st != want {
			t.Errorf("token of the key %d of %d under kid ed-1: got %v, want %v", i+1, len(set)-1, st, want)
		}
	}
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(testKey{alg: "EdDSA", kid: "ed-1", priv: forger}, nil, claimsAt(now, map[string]any{"jti": "forged"}))
	if _, st := v.Verify(forged, now); st != BadSignature {
		t.Errorf("forged token under the shared kid: got %v, want bad_signature", st)
	}
	if _, st := v.Verify(sign(rsaKey, nil, claimsAt(now, map[string]any{"jti": "rsa"})), now); st != OK {
		t.Errorf("RS256 token of the RSA key under the shared kid: got %v, want ok", st)
	}
}

// TestNewKeyUnderHeldKidRefetches: a provider rotating its key published
// the new key under the old kid, and a verifier holding the set fetched
// before (the old key alone under that kid) refused the new key's tokens
// as bad_signature until its next refresh, five minutes by default: an
// unknown kid refetched, a known one never did. A token no held key of
// its kid verifies now refetches as an unknown kid does, at most once per
// MinRefetch per issuer, and is tried against the new set; a forged one
// inside that window costs no fetch.
func TestNewKeyUnderHeldKidRefetches(t *testing.T) {
	t.Parallel()
	_, oldPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, newPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, newKey := testKey{alg: "EdDSA", kid: "ed-1", priv: oldPriv}, testKey{alg: "EdDSA", kid: "ed-1", priv: newPriv}
	p := newProvider(t, jwks(oldKey))
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: time.Hour})
	now := time.Now()
	if _, st := v.Verify(sign(oldKey, nil, claimsAt(now, map[string]any{"jti": "old"})), now); st != OK {
		t.Fatalf("old key: got %v, want ok", st)
	}
	p.set(jwks(oldKey, newKey))
	if _, st := v.Verify(sign(newKey, nil, claimsAt(now, map[string]any{"jti": "new"})), now); st != OK {
		t.Errorf("new key published under the held kid: got %v, want ok", st)
	}
	if got := p.count.Load(); got != 2 {
		t.Errorf("fetches: got %d, want 2 (Start and one refetch)", got)
	}
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		forged := sign(testKey{alg: "EdDSA", kid: "ed-1", priv: forger}, nil, claimsAt(now, map[string]any{"jti": fmt.Sprint("forged-", i)}))
		if _, st := v.Verify(forged, now); st != BadSignature {
			t.Errorf("forged token %d: got %v, want bad_signature", i, st)
		}
	}
	if got := p.count.Load(); got != 2 {
		t.Errorf("fetches after forged tokens inside MinRefetch: got %d, want still 2", got)
	}
}
