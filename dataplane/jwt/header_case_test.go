package jwt

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestForbiddenHeaderNamesInAnyCase: the forbidden JOSE header parameters
// and cty were matched by exact name, so a token whose header held "JKU"
// or "X5C" alone (no duplicate under case folding) was verified, and one
// with "CTY": "JWT" was taken as no nested token. A library reading
// header names ignoring case (encoding/json into a struct, which folds
// the Kelvin sign and long s too) would act on them: fetch the URL, trust
// the embedded key, unwrap the payload. Each is refused as its lower-case
// name is (an outside review); the jku server is never asked.
func TestForbiddenHeaderNamesInAnyCase(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	rs := ks["RS256"]
	valid := claimsAt(now, nil)
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		w.Write(jwks(rs))
	}))
	defer evil.Close()

	cases := []struct {
		name   string
		header map[string]any
		want   Status
	}{
		{"JKU", map[string]any{"JKU": evil.URL}, BadHeader},
		{"Jku", map[string]any{"Jku": evil.URL}, BadHeader},
		{"X5U", map[string]any{"X5U": evil.URL}, BadHeader},
		{"JWK", map[string]any{"JWK": jwkOf(rs)}, BadHeader},
		{"x5C", map[string]any{"x5C": []string{"MIIB"}}, BadHeader},
		{"CRIT", map[string]any{"CRIT": []string{"exp"}, "exp": 1}, BadHeader},
		{"B64", map[string]any{"B64": false}, BadHeader},
		{"ZIP", map[string]any{"ZIP": "DEF"}, BadHeader},
		{"ENC", map[string]any{"ENC": "A128GCM"}, BadHeader},
		{"jKu with the Kelvin sign", map[string]any{"j\u212au": evil.URL}, BadHeader},
		{"CTY JWT", map[string]any{"CTY": "JWT"}, BadHeader},
		{"Cty application/jwt", map[string]any{"Cty": "application/jwt"}, BadHeader},
		{"CTY number", map[string]any{"CTY": 1}, BadHeader},
		{"cty with parameters", map[string]any{"cty": "JWT; charset=utf-8"}, BadHeader},
		{"cty with blanks", map[string]any{"cty": " application/jwt\t"}, BadHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, st := v.Verify(sign(rs, tc.header, valid), now)
			if st != tc.want || c != nil {
				t.Errorf("got %v with claims %v, want %v", st, c, tc.want)
			}
		})
	}
	// A cty that is no JWT is still accepted, in any case, as cty is.
	for _, h := range []map[string]any{{"cty": "json"}, {"CTY": "json"}} {
		if _, st := v.Verify(sign(rs, h, valid), now); st != OK {
			t.Errorf("header %v: got %v, want OK", h, st)
		}
	}
	if n := evilHits.Load(); n != 0 {
		t.Errorf("jku/x5u server: got %d requests, want 0", n)
	}
}

// TestReadNamesInAnotherCaseMalformed: a header parameter or claim this
// package reads (alg, kid, typ; iss, exp, jti, scope, scp, the tenant and
// client claims, ...) spelled in another case, alone, is Malformed: it
// was read as absent, and a lone "KID" naming no key was verified by the
// issuer's only key fitting alg. Names no one reads pass in any case.
func TestReadNamesInAnotherCaseMalformed(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	rs := ks["RS256"]
	headers := []map[string]any{{"KID": "nope"}, {"Kid": rs.kid}, {"TYP": "logout+jwt"}, {"tYp": "at+jwt"}}
	for _, h := range headers {
		tok := signRaw(rs, string(mustJSON(merge(map[string]any{"alg": "RS256"}, h))), string(mustJSON(claimsAt(now, nil))))
		if c, st := v.Verify(tok, now); st != Malformed || c != nil {
			t.Errorf("header %v: got %v, want malformed", h, st)
		}
	}
	claims := []struct {
		name, exact string // exact is left out of the token
		want        Status
	}{
		{"JTI", "jti", Malformed}, {"Sub", "sub", Malformed}, {"NBF", "nbf", Malformed},
		{"Nonce", "nonce", Malformed}, {"SCP", "scp", Malformed}, {"\u017fcope", "scope", Malformed},
		{"Tenant", "tenant", Malformed}, {"CLIENT_ID", "client_id", Malformed}, {"Aud_x", "aud_x", OK},
	}
	for _, c := range claims {
		tok := sign(rs, nil, claimsAt(now, map[string]any{c.name: "x", c.exact: nil}))
		if _, st := v.Verify(tok, now); st != c.want {
			t.Errorf("claim %q: got %v, want %v", c.name, st, c.want)
		}
	}
}

func merge(a, b map[string]any) map[string]any {
	for k, x := range b {
		a[k] = x
	}
	return a
}
