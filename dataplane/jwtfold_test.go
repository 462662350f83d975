package dataplane

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestClaimNamesEqualUnderCaseFoldingRefused: the sidecar reads a claim
// by its exact name, while encoding/json decoding into a struct (a Go
// service reading a forwarded token's claims; .NET's and Jackson's
// case-insensitive options likewise) matches names under Unicode case
// folding and keeps the last: "Client_ID" is its "client_id", and "ſcope"
// (U+017F, long s) its "scope". A token with both spellings was admitted
// as what the exact name said and reached the service, which could read
// the other: the disagreement the refusal of duplicate names is there
// for (RFC 8725 §2.8). Such a token is refused as a duplicate: 401, and
// nothing reaches the service (attack143).
func TestClaimNamesEqualUnderCaseFoldingRefused(t *testing.T) {
	st := startStack(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.Issuers[0].ForwardToken = true })
	now := time.Now().Unix()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"https://idp.demo.example","aud":"portcullis-demo","client_id":"acme-hris",`+
			`"tenant":"acme","scope":"read:users","jti":"fold-1","iat":%d,"exp":%d%s}`, now, now+300, extra)
	}
	const header = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, header, claims(""))), ""); r.status != 200 {
		t.Fatalf("setup: the token got %d %s, want 200", r.status, r.body)
	}
	var read struct { // how a Go service reads these claims
		Client string `json:"client_id"`
		Scope  string `json:"scope"`
	}
	cases := []struct{ extra, header string }{
		{extra: `,"Client_ID":"acme-admin"`},
		{extra: `,"CLIENT_ID":"acme-admin"`},
		{extra: `,"ſcope":"admin:settings"`},
		{extra: `,"TENANT":"globex"`},
		{extra: `,"Exp":99999999999`},
		{header: `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1","Alg":"HS256"}`},
	}
	for _, tc := range cases {
		h := header
		if tc.header != "" {
			h = tc.header
		}
		if err := json.Unmarshal([]byte(claims(tc.extra)), &read); err != nil {
			t.Fatal(err)
		}
		before := len(st.up.received())
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, h, claims(tc.extra))), "")
		what := tc.extra + tc.header
		if r.status != 401 {
			t.Errorf("%s: %d %s, want 401 (a Go service reads client %q, scope %q)", what, r.status, r.body, read.Client, read.Scope)
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
