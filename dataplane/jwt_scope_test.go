package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestTokenScopeAndScpRefused: a token's scopes come from "scope" or
// "scp", never both. Before, the sidecar granted their union, so a token
// whose "scope" its issuer limited to read:users passed POST /v1/records
// on an "scp" beside it: where a provider lets a client or a user shape
// one of the two (a custom claim mapping), that is a way to scopes the
// issuer did not grant. Such a token is now 401, and the service sees
// nothing of it.
func TestTokenScopeAndScpRefused(t *testing.T) {
	st := startStack(t, nil)
	now := time.Now().Unix()
	header := `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	claims := func(scopes string) string {
		return fmt.Sprintf(`{"iss":"https://idp.demo.example","aud":"portcullis-demo","client_id":"acme-hris",`+
			`"tenant":"acme",%s,"jti":"scp-1","iat":%d,"exp":%d}`, scopes, now, now+300)
	}
	for _, c := range []struct {
		scopes string
		want   int
	}{
		{`"scope":"write:records"`, 200},
		{`"scp":["write:records"]`, 200},
		{`"scp":"read:users write:records"`, 200}, // Microsoft Entra ID's string form
		{`"scope":"read:users","scp":["write:records"]`, 401},
		{`"scp":["write:records"],"scope":"read:users"`, 401},
	} {
		before := len(st.up.received())
		r := do(t, st.addr, "POST", "/v1/records", bearer(mintDemoRaw(t, header, claims(c.scopes))), "{}")
		if r.status != c.want {
			t.Errorf("token with %s: %d %s, want %d", c.scopes, r.status, r.body, c.want)
			continue
		}
		if c.want != 401 {
			continue
		}
		if e := r.errorBody(t); e.Error != "unauthenticated" {
			t.Errorf("token with %s: error %q, want unauthenticated", c.scopes, e.Error)
		}
		if len(st.up.received()) != before {
			t.Errorf("token with %s: the service got the request", c.scopes)
		}
		if rec := st.sink.last(t); rec.Decision != audit.Unauthenticated {
			t.Errorf("token with %s: audited %v, want unauthenticated", c.scopes, rec.Decision)
		}
	}
}
