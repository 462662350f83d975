package dataplane

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// mintDemoRaw signs the header and claims JSON text byte for byte as the
// demo issuer: json.Marshal would make valid UTF-8 of what the test means
// to send.
func mintDemoRaw(t testing.TB, headerJSON, claimsJSON string) string {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64([]byte(headerJSON)) + "." + b64([]byte(claimsJSON))
	return signing + "." + b64(ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(signing)))
}

// TestTokenNotUTF8Refused: RFC 7519 section 7.2 has a verifier check that
// a JWT's header and claims are UTF-8. encoding/json reads each byte that
// is not as U+FFFD, so a claim name "client_id\xff" beside "client_id"
// was no duplicate to the sidecar, which admitted the token as acme-hris,
// while a parser that drops such bytes (PHP's JSON_INVALID_UTF8_IGNORE)
// reads client_id twice and takes the last, acme-admin. The sidecar
// refuses such a token as malformed: 401, and nothing reaches the service.
func TestTokenNotUTF8Refused(t *testing.T) {
	st := startStack(t, nil)
	now := time.Now().Unix()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"https://idp.demo.example","aud":"portcullis-demo","client_id":"acme-hris",`+
			`"tenant":"acme","scope":"read:users","jti":"utf8-1","iat":%d,"exp":%d%s}`, now, now+300, extra)
	}
	header := `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, header, claims(""))), ""); r.status != 200 {
		t.Fatalf("setup: the UTF-8 token got %d %s, want 200", r.status, r.body)
	}
	cases := map[string]string{
		"claim name":   claims(`,"client_id` + "\xff" + `":"acme-admin"`),
		"claim value":  claims(`,"sub":"svc-` + "\xc0\xaf" + `"`),
		"header value": "",
	}
	for name, payload := range cases {
		h := header
		if payload == "" { // the header is the one not UTF-8
			h, payload = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1","x":"`+"\xed\xa0\x80"+`"}`, claims("")
		}
		before := len(st.up.received())
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, h, payload)), "")
		if r.status != 401 {
			t.Errorf("%s not UTF-8: %d %s, want 401", name, r.status, r.body)
			continue
		}
		if e := r.errorBody(t); e.Error != "unauthenticated" {
			t.Errorf("%s not UTF-8: error %q, want unauthenticated", name, e.Error)
		}
		if n := len(st.up.received()); n != before {
			t.Errorf("%s not UTF-8: the service got the request", name)
		}
		if rec := st.sink.last(t); rec.Decision != audit.Unauthenticated {
			t.Errorf("%s not UTF-8: audited %v, want unauthenticated", name, rec.Decision)
		}
	}
}

// es256Issuer adds to the policy in force an ES256 issuer with an inline
// JWKS holding key's public half (kid "ec-1"), for acme.
func es256Issuer(t *testing.T, st *stack, key *ecdsa.PrivateKey) {
	t.Helper()
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"ec-1","alg":"ES256","use":"sig","x":%q,"y":%q}]}`,
		b64(pub[1:33]), b64(pub[33:]))
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Issuers = append(d.Issuers, policy.IssuerSpec{ID: "ec-idp", Issuer: "https://ec.example",
			Audiences: []string{"ec-aud"}, Algorithms: []string{"ES256"}, JWKS: jwks, Tenants: []string{"acme"}})
	})
}

// TestES256TwinSharesFingerprint: an ECDSA signature (r, s) has a twin
// (r, n-s) that verifies as well, so anyone holding an ES256 token can
// spell it a second way, with the same claims and jti. The audit trail
// names a token by the SHA-256 of its bytes (its fingerprint), and the
// twin's uses went in under another fingerprint: an operator who looked
// up a leaked token's fingerprint missed them. Both spellings are the one
// token, audited under one fingerprint.
func TestES256TwinSharesFingerprint(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := startStack(t, nil)
	es256Issuer(t, st, key)
	now := time.Now().Unix()
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"ec-1"}`)) + "." + b64(fmt.Appendf(nil,
		`{"iss":"https://ec.example","aud":"ec-aud","client_id":"acme-hris","tenant":"acme","scope":"read:users","jti":"ec-1","iat":%d,"exp":%d}`,
		now, now+300))
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := func(s *big.Int) string {
		b := make([]byte, 64)
		r.FillBytes(b[:32])
		s.FillBytes(b[32:])
		return signing + "." + b64(b)
	}
	twin := new(big.Int).Sub(elliptic.P256().Params().N, s)
	var prints [][16]byte
	for _, tok := range []string{sig(s), sig(twin)} {
		if r := do(t, st.addr, "GET", "/v1/users/9", bearer(tok), ""); r.status != 200 {
			t.Fatalf("ES256 token: %d %s, want 200", r.status, r.body)
		}
		rec := st.sink.last(t)
		if rec.TokenFingerprint == ([16]byte{}) {
			t.Fatal("audit record without a token fingerprint")
		}
		prints = append(prints, rec.TokenFingerprint)
	}
	if prints[0] != prints[1] {
		t.Errorf("the token and its twin (r, n-s) are audited under two fingerprints, %x and %x: a lookup of one misses the other",
			prints[0], prints[1])
	}
}
