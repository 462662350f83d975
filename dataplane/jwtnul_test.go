package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestClaimNameWithControlCharacterRefused: a claim name holding NUL is
// another name than "client_id" to the sidecar, which admitted the token
// below as acme-hris; a C parser keeping names as C strings (cJSON,
// which also looks a name up by the first match) reads "client_id\u0000"
// as "client_id", and it comes first. No provider names a claim or header
// parameter with a control character; such a token is malformed: 401, and
// nothing reaches the service (attack143).
func TestClaimNameWithControlCharacterRefused(t *testing.T) {
	st := startStack(t, nil)
	now := time.Now().Unix()
	claims := func(first string) string {
		return fmt.Sprintf(`{%s"iss":"https://idp.demo.example","aud":"portcullis-demo","client_id":"acme-hris",`+
			`"tenant":"acme","scope":"read:users","jti":"nul-1","iat":%d,"exp":%d}`, first, now, now+300)
	}
	const header = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, header, claims(""))), ""); r.status != 200 {
		t.Fatalf("setup: the token got %d %s, want 200", r.status, r.body)
	}
	cases := []struct{ header, claims string }{
		{header, claims(`"client_id\u0000":"acme-admin",`)},
		{header, claims(`"scope\u0000x":"admin:settings",`)},
		{header, claims(`"tenant\u001f":"globex",`)},
		{header, claims(`"client_id\u0085":"acme-admin",`)},
		{`{"alg\u0000":"HS256","alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`, claims("")},
	}
	for _, tc := range cases {
		what := tc.header + " " + tc.claims
		before := len(st.up.received())
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, tc.header, tc.claims)), "")
		if r.status != 401 {
			t.Errorf("%s: %d %s, want 401", what, r.status, r.body)
			continue
		}
		if n := len(st.up.received()); n != before {
			t.Errorf("%s: the service got the request", what)
		}
		if rec := st.sink.last(t); rec.Decision != audit.Unauthenticated {
			t.Errorf("%s: audited %v, want unauthenticated", what, rec.Decision)
		}
	}
}
