package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestJOSENameCaseVariantsRefused: the sidecar reads the JOSE header's
// alg, kid and typ by their exact names (RFC 7515 names are case
// sensitive), so a lone "KID" or "TYP" was no kid and no typ to it: a
// token whose only key id was "KID": "other-key" was verified by the one
// key of the issuer that fits its alg (a token without kid may use the
// only such key), and one typed "TYP": "logout+jwt" passed as untyped. A
// library reading header names ignoring case (encoding/json filling a
// struct) reads a key id naming no key and a typ of another kind of
// token: the two disagree about the token. A header name equal to alg,
// kid or typ under Unicode case folding but not spelled so is refused as
// malformed (401), as a claim name that is one of the claims the sidecar
// reads (exp, iss, jti, scope, the client and tenant claims) in another
// case is: the sidecar read the token without "JTI" as one without a jti,
// which a revocation of its jti never reached, and "Scope" as unscoped.
func TestJOSENameCaseVariantsRefused(t *testing.T) {
	st := startStack(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.Clients[0].Limit = &policy.LimitSpec{Rate: "1000/s", Burst: 1000} })
	now := time.Now().Unix()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"https://idp.demo.example","aud":"portcullis-demo","client_id":"acme-hris",`+
			`"tenant":"acme","scope":"read:users","iat":%d,"exp":%d%s}`, now, now+300, extra)
	}
	ok := []struct{ header, extra string }{
		{`{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`, `,"jti":"case-ok-1"`},
		{`{"alg":"EdDSA"}`, `,"jti":"case-ok-2"`}, // no kid: the issuer's one EdDSA key
		{`{"alg":"EdDSA","kid":"demo-1","x5t":"abc","Kind":"k"}`, `,"jti":"case-ok-3","Subject":"s"`},
	}
	for _, tc := range ok {
		if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, tc.header, claims(tc.extra))), ""); r.status != 200 {
			t.Fatalf("setup: header %s claims %s got %d %s, want 200", tc.header, tc.extra, r.status, r.body)
		}
	}
	cases := []struct{ header, extra string }{
		{header: `{"alg":"EdDSA","KID":"other-key"}`},
		{header: `{"alg":"EdDSA","Kid":"demo-1"}`},
		{header: `{"alg":"EdDSA","\u212aid":"demo-1"}`}, // Kelvin sign
		{header: `{"alg":"EdDSA","kid":"demo-1","TYP":"logout+jwt"}`},
		{header: `{"alg":"EdDSA","kid":"demo-1","Typ":"JWT"}`},
		{header: `{"alg":"EdDSA","kid":"demo-1","ALG":"EdDSA"}`},
		{extra: `,"JTI":"case-1"`},
		{extra: `,"Scope":"admin:settings"`},
		{extra: `,"ſcp":"admin:settings"`},
		{extra: `,"Sub":"admin"`},
		{extra: `,"NBF":99999999999`},
	}
	for i, tc := range cases {
		h := tc.header
		if h == "" {
			h = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
		}
		extra := fmt.Sprintf(`,"jti":"case-%d"`, i)
		if tc.extra != "" {
			extra = tc.extra
		}
		what := tc.header + tc.extra
		before := len(st.up.received())
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, h, claims(extra))), "")
		if r.status != 401 {
			t.Errorf("%s: %d %s, want 401", what, r.status, r.body)
			continue
		}
		if e := r.errorBody(t); e.Error != "unauthenticated" {
			t.Errorf("%s: error %q, want unauthenticated", what, e.Error)
		}
		if n := len(st.up.received()); n != before {
			t.Errorf("%s: the service got the request", what)
		}
		if rec := st.sink.last(t); rec.Decision != audit.Unauthenticated {
			t.Errorf("%s: audited %v, want unauthenticated", what, rec.Decision)
		}
	}
}
