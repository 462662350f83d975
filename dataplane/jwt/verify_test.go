package jwt

import (
	"bytes"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tokens here are signed by this package's tests with stdlib crypto and
// served from a JWKS on loopback (httptest). A loopback test against a
// real provider was not done: zitadel/oidc and MicahParks/keyfunc are not
// available from the module proxy, and github.com/ory/fosite, which is,
// would pull its large dependency tree into the shared go.mod for one
// test; it was skipped for time.
func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA", "HS256"} {
		t.Run(alg, func(t *testing.T) {
			tok := sign(ks[alg], nil, claimsAt(now, map[string]any{"scope": nil, "scp": []string{"read", "write", "admin:settings"}}))
			c, st := v.Verify(tok, now)
			if st != OK {
				t.Fatalf("Verify: got %v, want ok", st)
			}
			if c.Subject != "user-1" || c.Tenant != "tenant-1" || c.Client != "client-1" || c.JTI != "jti-1" {
				t.Errorf("claims: got %+v", c)
			}
			if want := []string{"read", "write", "admin:settings"}; !slices.Equal(c.Scopes, want) {
				t.Errorf("scopes: got %q, want %q", c.Scopes, want)
			}
			if c.Issuer == nil || c.Issuer.ID != "test" || c.Expiry != now.Add(10*time.Minute).Unix() {
				t.Errorf("issuer/expiry: got %v %d", c.Issuer, c.Expiry)
			}
			if c.Fingerprint != fingerprint(tok) || c.Fingerprint == [16]byte{} {
				t.Errorf("fingerprint: got %x", c.Fingerprint)
			}
		})
	}
}

func TestVerifyAudienceArrayAndTypes(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	k := ks["ES256"]
	cases := []struct {
		name   string
		header map[string]any
		claims map[string]any
		want   Status
	}{
		{"aud array", nil, map[string]any{"aud": []string{"other", testAud}}, OK},
		{"aud array no match", nil, map[string]any{"aud": []string{"other"}}, BadAudience},
		{"aud empty array", nil, map[string]any{"aud": []string{}}, BadAudience},
		{"aud missing", nil, map[string]any{"aud": nil}, BadAudience},
		{"aud number", nil, map[string]any{"aud": 7}, BadClaim},
		{"typ JWT", map[string]any{"typ": "JWT"}, nil, OK},
		{"typ application/at+jwt", map[string]any{"typ": "application/AT+JWT"}, nil, OK},
		{"typ missing", map[string]any{"typ": nil}, nil, OK},
		{"no kid single key", map[string]any{"kid": nil}, nil, OK},
		{"fractional exp", nil, map[string]any{"exp": float64(now.Unix()) + 60.5}, OK},
		{"skew covers exp", nil, map[string]any{"exp": now.Unix() - 10, "iat": now.Unix() - 60}, OK},
		{"skew covers nbf", nil, map[string]any{"nbf": now.Unix() + 10}, OK},
		{"iat in future", nil, map[string]any{"iat": now.Unix() + 120}, NotYetValid},
		{"no iat lifetime from now", nil, map[string]any{"iat": nil, "exp": now.Add(2 * time.Hour).Unix()}, TooLong},
		{"tenant number", nil, map[string]any{"tenant": 5}, BadClaim},
		{"sub null", nil, map[string]any{"sub": []any{nil}}, BadClaim},
		{"scp null element", nil, map[string]any{"scope": nil, "scp": []any{"a", nil}}, BadClaim},
		{"scp number", nil, map[string]any{"scope": nil, "scp": 7}, BadClaim},
		{"scope bad char", nil, map[string]any{"scope": "read\twrite"}, BadClaim},
		{"exp string", nil, map[string]any{"exp": "9999999999"}, BadClaim},
		{"exp negative", nil, map[string]any{"exp": -1}, BadClaim},
		{"exp huge", nil, map[string]any{"exp": 1e300}, BadClaim},
		{"iss number", nil, map[string]any{"iss": 1}, BadIssuer},
		{"jti uri", nil, map[string]any{"jti": "https://idp.example/tokens/1"}, OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, st := v.Verify(sign(k, tc.header, claimsAt(now, tc.claims)), now)
			if st != tc.want {
				t.Errorf("got %v, want %v", st, tc.want)
			}
		})
	}
}

// TestVerifyScopeClaims: the scopes come from "scope" (a space-separated
// string) or "scp" (an array, as Okta issues it, or a space-separated
// string, as Microsoft Entra ID does), never from both. Before, a token
// with both was granted their union, so where a provider lets a client
// or user shape one of them (a custom claim mapping) it could add to the
// scopes its issuer meant; and Entra ID's string "scp" was refused.
func TestVerifyScopeClaims(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   []string // nil: BadClaim
	}{
		{"scope", map[string]any{"scope": "read  write"}, []string{"read", "write"}},
		{"scp array", map[string]any{"scope": nil, "scp": []string{"read", "admin:settings"}}, []string{"read", "admin:settings"}},
		{"scp string", map[string]any{"scope": nil, "scp": "read admin:settings"}, []string{"read", "admin:settings"}},
		{"scope and scp", map[string]any{"scope": "read", "scp": []string{"admin:settings"}}, nil},
		{"scope and empty scp", map[string]any{"scope": "read", "scp": []string{}}, nil},
		{"scope array", map[string]any{"scope": []string{"read"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, st := v.Verify(sign(ks["ES256"], nil, claimsAt(now, tc.claims)), now)
			var got []string
			if c != nil {
				got = c.Scopes
			}
			switch {
			case tc.want == nil && st != BadClaim:
				t.Errorf("got %v (scopes %q), want BadClaim", st, got)
			case tc.want != nil && (st != OK || !slices.Equal(got, tc.want)):
				t.Errorf("got %v, scopes %q; want ok, %q", st, got, tc.want)
			}
		})
	}
}

// TestVerifyAttacks is the attack table of the issue: every case must
// be refused, most with a specific status.
func TestVerifyAttacks(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	rs := ks["RS256"]
	valid := claimsAt(now, nil)
	goodTok := sign(rs, nil, valid)
	goodParts := strings.Split(string(goodTok), ".")
	// A second server that a jku/x5u header points at; it must never be asked.
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		w.Write(jwks(rs))
	}))
	defer evil.Close()

	hs := func(secret []byte) testKey { return testKey{alg: "HS256", kid: "rsa-1", priv: secret} }
	pub := &rsaOnceFirst().PublicKey
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	header := func(h string) string { return enc([]byte(h)) }
	payload, _ := claimsJSON(valid)
	big := make([]byte, DefaultMaxTokenBytes+1)
	for i := range big {
		big[i] = 'a'
	}
	copy(big, goodTok)

	cases := []struct {
		name string
		tok  []byte
		want Status
	}{
		{"alg none", unsigned(`{"alg":"none"}`, payload), BadAlgorithm},
		{"alg None", unsigned(`{"alg":"None"}`, payload), BadAlgorithm},
		{"alg NONE", unsigned(`{"alg":"NONE"}`, payload), BadAlgorithm},
		{"alg none with sig", []byte(header(`{"alg":"none"}`) + "." + goodParts[1] + "." + goodParts[2]), BadAlgorithm},
		{"alg rs256 lowercase", signRaw(rs, `{"alg":"rs256","kid":"rsa-1"}`, payload), BadAlgorithm},
		{"RS256 resigned HS256 with PEM", sign(hs(pemKey), nil, valid), BadSignature},
		{"RS256 resigned HS256 with DER", sign(hs(der), nil, valid), BadSignature},
		{"RS256 resigned HS256 with PKCS1", sign(hs(x509.MarshalPKCS1PublicKey(pub)), nil, valid), BadSignature},
		{"ES256 alg on RSA kid", signRaw(ks["ES256"], `{"alg":"ES256","kid":"rsa-1"}`, payload), BadAlgorithm},
		{"kid path", sign(rs, map[string]any{"kid": "../../etc/passwd"}, valid), UnknownKey},
		{"kid sql", sign(rs, map[string]any{"kid": "' OR 1=1 --"}, valid), UnknownKey},
		{"jku", sign(rs, map[string]any{"jku": evil.URL}, valid), BadHeader},
		{"x5u", sign(rs, map[string]any{"x5u": evil.URL}, valid), BadHeader},
		{"jwk embedded", sign(rs, map[string]any{"jwk": jwkOf(rs)}, valid), BadHeader},
		{"x5c", sign(rs, map[string]any{"x5c": []string{"MIIB"}}, valid), BadHeader},
		{"crit unknown", sign(rs, map[string]any{"crit": []string{"exp"}, "exp": 1}, valid), BadHeader},
		{"crit b64", sign(rs, map[string]any{"crit": []string{"b64"}, "b64": false}, valid), BadHeader},
		{"nested cty", sign(rs, map[string]any{"cty": "JWT"}, valid), BadHeader},
		{"nested cty media type", sign(rs, map[string]any{"cty": "Application/JWT"}, valid), BadHeader},
		{"expired", sign(rs, nil, claimsAt(now, map[string]any{"exp": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix()})), Expired},
		{"not yet valid", sign(rs, nil, claimsAt(now, map[string]any{"nbf": now.Add(time.Minute).Unix()})), NotYetValid},
		{"wrong issuer", sign(rs, nil, claimsAt(now, map[string]any{"iss": "https://evil.test"})), BadIssuer},
		{"issuer with slash", sign(rs, nil, claimsAt(now, map[string]any{"iss": testIss + "/"})), BadIssuer},
		{"missing issuer", sign(rs, nil, claimsAt(now, map[string]any{"iss": nil})), BadIssuer},
		{"wrong audience", sign(rs, nil, claimsAt(now, map[string]any{"aud": "api://other"})), BadAudience},
		{"missing exp", sign(rs, nil, claimsAt(now, map[string]any{"exp": nil})), MissingExpiry},
		{"lifetime above max", sign(rs, nil, claimsAt(now, map[string]any{"exp": now.Add(2 * time.Hour).Unix()})), TooLong},
		{"scope array", sign(rs, nil, claimsAt(now, map[string]any{"scope": []string{"admin:settings"}})), BadClaim},
		{"duplicate scope", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, dupClaim(payload, `"scope":"admin:settings"`)), Duplicate},
		{"duplicate exp", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, dupClaim(payload, `"exp":99999999999`)), Duplicate},
		{"duplicate escaped exp", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, dupClaim(payload, `"\u0065xp":1`)), Duplicate},
		{"duplicate scope in upper case", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, dupClaim(payload, `"SCOPE":"admin:settings"`)), Duplicate},
		{"duplicate scope with long s", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, dupClaim(payload, `"\u017fcope":"admin:settings"`)), Duplicate},
		{"duplicate kid in another case", signRaw(rs, `{"alg":"RS256","kid":"rsa-1","Kid":"x"}`, payload), Duplicate},
		{"duplicate alg", signRaw(rs, `{"alg":"RS256","kid":"rsa-1","alg":"HS256"}`, payload), Duplicate},
		{"duplicate kid", signRaw(rs, `{"alg":"RS256","kid":"x","kid":"rsa-1"}`, payload), Duplicate},
		{"truncated", goodTok[:len(goodTok)-10], BadSignature},
		{"truncated to two parts", []byte(goodParts[0] + "." + goodParts[1]), Malformed},
		{"empty signature", []byte(goodParts[0] + "." + goodParts[1] + "."), Malformed},
		{"four parts", []byte(string(goodTok) + ".x"), Malformed},
		{"oversized", big, Oversized},
		{"bad base64 header", []byte("*" + string(goodTok)), Malformed},
		{"bad base64 padding", []byte(goodParts[0] + "=." + goodParts[1] + "." + goodParts[2]), Malformed},
		{"bad base64 std alphabet", []byte(goodParts[0] + "." + goodParts[1] + ".+" + goodParts[2][1:]), Malformed},
		{"bad json header", []byte(header(`{"alg":"RS256"`) + "." + goodParts[1] + "." + goodParts[2]), Malformed},
		{"bad json payload", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, payload[:len(payload)-1]), Malformed},
		{"payload array", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, `["exp"]`), Malformed},
		{"trailing json", signRaw(rs, `{"alg":"RS256","kid":"rsa-1"}`, payload+"{}"), Malformed},
		{"wrong typ", sign(rs, map[string]any{"typ": "id+jwt"}, valid), BadType},
		{"typ number", sign(rs, map[string]any{"typ": 1}, valid), BadType},
		{"tampered payload", []byte(goodParts[0] + "." + enc([]byte(strings.Replace(payload, "read write", "admin", 1))) + "." + goodParts[2]), BadSignature},
		{"signature of other key", sign(testKey{alg: "RS256", kid: "rsa-1", priv: rsaSecond()}, nil, valid), BadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, st := v.Verify(tc.tok, now)
			if st == OK || c != nil {
				t.Fatalf("got %v with claims %v, want refusal", st, c)
			}
			if st != tc.want {
				t.Errorf("got %v, want %v", st, tc.want)
			}
		})
	}
	if n := evilHits.Load(); n != 0 {
		t.Errorf("jku/x5u server: got %d requests, want 0", n)
	}
}

func unsigned(h, payload string) []byte {
	return []byte(enc([]byte(h)) + "." + enc([]byte(payload)) + ".")
}

func claimsJSON(c map[string]any) (string, error) {
	b, err := jsonMarshal(c)
	return string(b), err
}

// dupClaim inserts an extra member at the start of a JSON object.
func dupClaim(obj, member string) string { return "{" + member + "," + obj[1:] }

func TestHS256OnlyWhenListed(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	iss := testIssuer("")
	iss.JWKS = jwks(ks["RS256"])
	iss.Algorithms = []string{"RS256"}
	iss.HMACSecret = nil
	v := newTestVerifier(t, Config{Issuers: []Issuer{iss}})
	now := time.Now()
	pub := &rsaOnceFirst().PublicKey
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, secret := range [][]byte{pemKey, der, testHMAC} {
		_, st := v.Verify(sign(testKey{alg: "HS256", kid: "rsa-1", priv: secret}, nil, claimsAt(now, nil)), now)
		if st != BadAlgorithm {
			t.Errorf("HS256 on RS256-only issuer: got %v, want bad_algorithm", st)
		}
	}
	if _, st := v.Verify(sign(ks["RS256"], nil, claimsAt(now, nil)), now); st != OK {
		t.Errorf("RS256 with inline jwks: got %v, want ok", st)
	}
}

func TestJWKAlgMustMatch(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	j := jwkOf(ks["RS256"])
	j["alg"] = "RS256"
	set, _ := jsonMarshal(map[string]any{"keys": []any{j}})
	iss := testIssuer("")
	iss.JWKS = set
	v := newTestVerifier(t, Config{Issuers: []Issuer{iss}})
	now := time.Now()
	if _, st := v.Verify(sign(ks["PS256"], nil, claimsAt(now, nil)), now); st != BadAlgorithm {
		t.Errorf("PS256 with RS256 jwk: got %v, want bad_algorithm", st)
	}
	if _, st := v.Verify(sign(ks["RS256"], nil, claimsAt(now, nil)), now); st != OK {
		t.Errorf("RS256 with RS256 jwk: got %v, want ok", st)
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	weak, err := rsaGenerate(1024)
	if err != nil {
		t.Fatal(err)
	}
	ks := testKeys()
	weakJWK := jwkOf(testKey{alg: "RS256", kid: "weak", priv: weak})
	oct := map[string]any{"kty": "oct", "kid": "oct", "k": enc(testHMAC)}
	enc := jwkOf(ks["ES256"])
	enc["kid"], enc["use"] = "enc", "enc"
	p384 := map[string]any{"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"}
	set, _ := jsonMarshal(map[string]any{"keys": []any{weakJWK, oct, enc, p384, jwkOf(ks["EdDSA"])}})
	got, err := parseJWKS(set)
	if err != nil {
		t.Fatalf("parseJWKS: %v", err)
	}
	if len(got.all) != 1 || got.all[0].kid != "ed-1" {
		t.Errorf("keys: got %d (%v), want only ed-1", len(got.all), got.byKID)
	}
	if _, err := parseJWKS([]byte(`{"keys":[` + string(mustJSON(weakJWK)) + `]}`)); err == nil {
		t.Error("jwks of only a 1024-bit key: got nil error")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	good := func() Issuer {
		iss := testIssuer("https://idp.test/jwks")
		return iss
	}
	cases := []struct {
		name   string
		mutate func(*Issuer)
		want   string
	}{
		{"no id", func(i *Issuer) { i.ID = "" }, "empty id"},
		{"no url", func(i *Issuer) { i.URL = "" }, "empty url"},
		{"no audience", func(i *Issuer) { i.Audiences = nil }, "audiences"},
		{"alg none", func(i *Issuer) { i.Algorithms = []string{"none"} }, `"none"`},
		{"alg unknown", func(i *Issuer) { i.Algorithms = []string{"RS512"} }, `"RS512"`},
		{"no algs", func(i *Issuer) { i.Algorithms = nil }, "algorithms"},
		{"hs256 no secret", func(i *Issuer) { i.HMACSecret = nil }, "hmac secret"},
		{"hs256 short secret", func(i *Issuer) { i.HMACSecret = []byte("short") }, "at least 32"},
		{"secret without hs256", func(i *Issuer) { i.Algorithms = []string{"RS256"} }, "HS256 is not in algorithms"},
		{"both jwks", func(i *Issuer) { i.JWKS = []byte(`{}`) }, "not both"},
		{"no jwks", func(i *Issuer) { i.JWKSURL = "" }, "need a jwks url"},
		{"relative jwks url", func(i *Issuer) { i.JWKSURL = "/jwks" }, "absolute"},
		{"file jwks url", func(i *Issuer) { i.JWKSURL = "file:///etc/passwd" }, "absolute"},
		{"bad inline jwks", func(i *Issuer) { i.JWKSURL, i.JWKS = "", []byte(`{"keys":[]}`) }, "inline jwks"},
		{"negative skew", func(i *Issuer) { i.ClockSkew = -1 }, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			iss := good()
			tc.mutate(&iss)
			_, err := New(Config{Issuers: []Issuer{iss}})
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), fmt.Sprintf("issuer %q", iss.ID)) {
				t.Errorf("got %v, want ErrConfig naming issuer %q and %q", err, iss.ID, tc.want)
			}
		})
	}
	dup := []Issuer{good(), good()}
	if _, err := New(Config{Issuers: dup}); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate issuers: got %v", err)
	}
}

func TestNewCopiesConfig(t *testing.T) {
	t.Parallel()
	iss := testIssuer("https://idp.test/jwks")
	v, err := New(Config{Issuers: []Issuer{iss}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	iss.Audiences[0] = "changed"
	if got := v.cfg.Issuers[0].Audiences[0]; got != testAud {
		t.Errorf("audience after caller change: got %q, want %q", got, testAud)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln": true,
		"a.b.c":            true,
		"pk_live_abcdef":   false,
		"a.b.":             false,
		".b.c":             false,
		"a..c":             false,
		"a.b.c.d":          false,
		"a.b.c=":           false,
		"a+b.c.d":          false,
		"":                 false,
		"eyJ.eyJ.sig with": false,
	}
	for in, want := range cases {
		if got := LooksLikeJWT([]byte(in)); got != want {
			t.Errorf("LooksLikeJWT(%q): got %v, want %v", in, got, want)
		}
	}
}

func TestStatusString(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for s := OK; s < numStatus; s++ {
		name := s.String()
		if name == "" || seen[name] {
			t.Errorf("Status(%d).String(): got %q, want a unique name", s, name)
		}
		seen[name] = true
	}
	if got := Status(200).String(); got != "unknown" {
		t.Errorf("out of range: got %q", got)
	}
	if got := fmt.Sprint(BadSignature); got != "bad_signature" {
		t.Errorf("fmt: got %q", got)
	}
}

// TestEd25519SmallOrderKeyRefused: an OKP key of small order (the
// identity, or a point of order 2, 4 or 8, as a placeholder or broken
// JWKS may hold) was accepted, and for it anyone can forge a signature
// Go's ed25519.Verify accepts: the signature R = identity, S = 0 verifies
// every message under the identity key. Such keys, and points off the
// curve, are skipped like EC points off P-256, so the forged token meets
// no key.
func TestEd25519SmallOrderKeyRefused(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	identity := make([]byte, 32)
	identity[0] = 1
	minusOne := make([]byte, 32) // y = p-1: (0, -1), order 2
	for i := range minusOne {
		minusOne[i] = 0xff
	}
	minusOne[0], minusOne[31] = 0xec, 0x7f
	keys := []any{jwkOf(ks["EdDSA"])}
	for kid, x := range map[string][]byte{"identity": identity, "zero": make([]byte, 32), "minus-one": minusOne} {
		keys = append(keys, map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": enc(x)})
	}
	p := newProvider(t, mustJSON(map[string]any{"keys": keys}))
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: time.Hour})
	now := time.Now()
	if _, st := v.Verify(sign(ks["EdDSA"], nil, claimsAt(now, nil)), now); st != OK {
		t.Fatalf("token of the real key: got %v, want ok", st)
	}
	input := enc([]byte(`{"alg":"EdDSA","kid":"identity","typ":"at+jwt"}`)) + "." + enc(mustJSON(claimsAt(now, map[string]any{"sub": "admin"})))
	forged := []byte(input + "." + enc(append(identity, make([]byte, 32)...)))
	if _, st := v.Verify(forged, now); st == OK {
		t.Fatal("token forged for the identity key: got ok")
	}
	for _, x := range [][]byte{identity, make([]byte, 32), minusOne} {
		set := mustJSON(map[string]any{"keys": []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc(x)}}})
		if _, err := parseJWKS(set); err == nil || !strings.Contains(err.Error(), "small order") {
			t.Errorf("jwks of small-order key %x: got %v, want an error saying small order", x, err)
		}
	}
}

// TestES256TwinFingerprint: an ES256 token and its twin (r, n-s) both
// verify, as two cache entries, and carry the fingerprint of the low-S
// spelling (the dataplane's TestES256TwinSharesFingerprint sends them
// through the sidecar).
func TestES256TwinFingerprint(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	low := sign(ks["ES256"], nil, claimsAt(now, nil)) // rawSig signs low-S
	dot := bytes.LastIndexByte(low, '.')
	sig, err := b64.DecodeString(string(low[dot+1:]))
	if err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])).FillBytes(sig[32:])
	twin := append(append([]byte(nil), low[:dot+1]...), enc(sig)...)
	for _, tok := range [][]byte{low, twin, twin} { // the twin twice: a miss, then a hit
		c, st := v.Verify(tok, now)
		if st != OK {
			t.Fatalf("Verify: got %v, want ok", st)
		}
		if c.Fingerprint != fingerprint(low) {
			t.Errorf("fingerprint %x, want %x (the low-S spelling's)", c.Fingerprint, fingerprint(low))
		}
		v.WaitCache()
	}
}

// TestVerifyJTIRevocable: `keys revoke jti:<id>` refuses a token id
// holding a control character, so a token whose jti held one could not
// be revoked and was valid until its exp. Such a token is refused.
func TestVerifyJTIRevocable(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	for _, jti := range []string{"tok\n1", "tok\x001", "tok\u00851", "\t"} {
		if _, st := v.Verify(sign(ks["ES256"], nil, claimsAt(now, map[string]any{"jti": jti})), now); st != BadClaim {
			t.Errorf("jti %q: got %v, want %v: no revocation can name it", jti, st, BadClaim)
		}
	}
}

// TestTokenHasOneSpelling: encoding/base64 skips CR and LF wherever they
// are, Strict() or not, so a token with a line break in its signature
// segment (which the signing input does not cover) verified as the
// token it was copied from, under another fingerprint and another cache
// entry: a second spelling anyone holding the token could make, which
// the audit trail would count as another token. A line break cannot
// reach the sidecar in a header, but Verify promises strict base64url
// whatever its caller (attack143).
func TestTokenHasOneSpelling(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	for _, alg := range []string{"RS256", "ES256", "EdDSA", "HS256"} {
		tok := sign(ks[alg], nil, claimsAt(now, nil))
		at := bytes.LastIndexByte(tok, '.') + 4
		for _, in := range []string{"\n", "\r", "\r\n"} {
			twin := slices.Concat(tok[:at], []byte(in), tok[at:])
			if c, st := v.Verify(twin, now); st != Malformed {
				t.Errorf("%s with %q in its signature: got %v (claims %v), want %v", alg, in, st, c != nil, Malformed)
			}
		}
	}
}
