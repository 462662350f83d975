package dataplane

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// TestJWKSSharedKidRotation: a provider rotating its key published the
// new key under the old one's kid, beside the old key, and the sidecar
// tried only the first key of that kid, so every valid token signed by
// the new key was refused 401. Over a real sidecar reading the JWKS from
// a real loopback server: tokens of both keys pass, a forged token with
// the kid is still 401, and a forged token spends one unit of its
// source's budget of failures however many keys it was tried against
// (the budget of 2 refuses the third forged token, not the second).
func TestJWKSSharedKidRotation(t *testing.T) {
	st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(2, time.Hour, 2) })
	next, err := newEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	both := nextKeySet(next)
	var set atomic.Pointer[string]
	set.Store(&both)
	serveJWKS(t, st, &set)

	claims := demoClaims("acme-hris", "acme", "read:users")
	claims["jti"] = "signed-by-the-new-key"
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(signDemo(t, next, claims)), ""); r.status != 200 {
		t.Errorf("token of the new key, second under kid demo-1: %d %s, want 200", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mint(t, demoClaims("acme-hris", "acme", "read:users"))), ""); r.status != 200 {
		t.Errorf("token of the old key, first under kid demo-1: %d %s, want 200", r.status, r.body)
	}
	for i := range 2 {
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(forge(t, demoClaims("acme-hris", "acme", "read:users"))), "")
		if r.status != 401 {
			t.Fatalf("forged token %d under kid demo-1, tried against both keys: %d %s, want 401", i+1, r.status, r.body)
		}
	}
	r := do(t, st.addr, "GET", "/v1/users/9", bearer(forge(t, demoClaims("acme-hris", "acme", "read:users"))), "")
	if r.status != 429 || r.errorBody(t).Error != "token_failures_limited" {
		t.Errorf("third forged token, budget of 2 spent: %d %s, want 429 token_failures_limited", r.status, r.body)
	}
}

// TestJWKSNewKeyUnderHeldKid: the provider published the new key under
// the old kid after the sidecar had fetched its keys, and the sidecar,
// holding the old key alone under that kid, refused the new key's tokens
// 401 until its next refresh (five minutes): an unknown kid refetched the
// JWKS, a known one never did. Over a real sidecar and a real loopback
// JWKS: the new key's token refetches the set and is 200.
func TestJWKSNewKeyUnderHeldKid(t *testing.T) {
	st := startStack(t, nil)
	var set atomic.Pointer[string]
	old := demoJWKS
	set.Store(&old)
	idp := serveJWKS(t, st, &set)
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mint(t, demoClaims("acme-hris", "acme", "read:users"))), ""); r.status != 200 {
		t.Fatalf("token of the old key: %d %s, want 200", r.status, r.body)
	}
	next, err := newEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	both := nextKeySet(next)
	set.Store(&both)
	before := idp.fetches.Load()
	claims := demoClaims("acme-hris", "acme", "read:users")
	claims["jti"] = "signed-by-the-new-key"
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(signDemo(t, next, claims)), ""); r.status != 200 {
		t.Errorf("token of the new key published under the held kid demo-1: %d %s, want 200", r.status, r.body)
	}
	if got := idp.fetches.Load() - before; got != 1 {
		t.Errorf("JWKS fetches for the new key's token: %d, want 1 (a refetch)", got)
	}
}

// jwksHost is a JWKS served on loopback from a value the test changes.
type jwksHost struct {
	fetches atomic.Int64
}

// serveJWKS serves *set (changed through it) from a real HTTP server on
// loopback and puts in force the example policy reading the demo issuer's
// keys from there, fetched.
func serveJWKS(t *testing.T, st *stack, set *atomic.Pointer[string]) *jwksHost {
	t.Helper()
	return serveJWKSWith(t, st, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, *set.Load())
	})
}

// serveJWKSWith is serveJWKS with the JWKS endpoint's answers written by
// serve, each request counted in fetches.
func serveJWKSWith(t *testing.T, st *stack, serve http.HandlerFunc) *jwksHost {
	t.Helper()
	return serveJWKSPolicy(t, st, serve, nil)
}

// serveJWKSPolicy is serveJWKSWith with the example policy changed by
// mutate (nil: as it is) before it is put in force.
func serveJWKSPolicy(t *testing.T, st *stack, serve http.HandlerFunc, mutate func(*policy.Document)) *jwksHost {
	t.Helper()
	h := &jwksHost{}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fetches.Add(1)
		serve(w, r)
	}))
	t.Cleanup(idp.Close)
	snap := exampleWithJWKSURL(t, idp.URL+"/jwks", st.store.Load().Revision+1)
	if mutate != nil {
		doc := *snap.Doc
		doc.Issuers = append([]policy.IssuerSpec(nil), doc.Issuers...)
		mutate(&doc)
		var err error
		if snap, err = policy.Compile(&doc, policy.Live{Revision: snap.Revision}); err != nil {
			t.Fatal(err)
		}
	}
	st.store.Swap(snap)
	if err := st.srv.prepared.Load().verifier.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return h
}

// nextKeySet is the demo JWKS with next's public key after the demo key,
// under the same kid demo-1.
func nextKeySet(next ed25519.PrivateKey) string {
	return fmt.Sprintf(`{"keys":[%s,{"kty":"OKP","crv":"Ed25519","kid":"demo-1","alg":"EdDSA","use":"sig","x":%q}]}`,
		demoJWKS[len(`{"keys":[`):len(demoJWKS)-len(`]}`)],
		base64.RawURLEncoding.EncodeToString(next.Public().(ed25519.PublicKey)))
}

func newEd25519Key() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// signDemo signs claims as the demo issuer (kid demo-1) with key.
func signDemo(t *testing.T, key ed25519.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": "demo-1"}) + "." + enc(claims)
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(signing)))
}
