package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestNestedJWTMediaTypeRefused: a token whose cty says its payload is a
// JWT (a nested one, RFC 7519 §5.2) is refused, since the sidecar reads
// the payload as the claims and a library honouring cty reads it as
// another token. RFC 7515 §4.1.10 makes "application/" implied, so
// "application/jwt" is the same cty as "JWT"; only the short spelling
// was refused, and the other reached the service (attack143).
func TestNestedJWTMediaTypeRefused(t *testing.T) {
	st := startStack(t, nil)
	now := time.Now().Unix()
	claims := fmt.Sprintf(`{"iss":"https://idp.demo.example","aud":"portcullis-demo","client_id":"acme-hris",`+
		`"tenant":"acme","scope":"read:users","jti":"cty-1","iat":%d,"exp":%d}`, now, now+300)
	header := func(cty string) string {
		return `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"` + cty + `}`
	}
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, header(""), claims)), ""); r.status != 200 {
		t.Fatalf("setup: the token without cty got %d %s, want 200", r.status, r.body)
	}
	// A media type may carry parameters and, to a MIME parser
	// (mime.ParseMediaType, Java's MimeType), blanks around it: "JWT;
	// charset=utf-8" is JWT too, and passed as no nested token.
	ctys := []string{"JWT", "jwt", "application/JWT", "application/jwt", "Application/Jwt",
		"JWT; charset=utf-8", "application/jwt;v=1", " JWT", "jwt\\t"}
	for _, cty := range ctys {
		before := len(st.up.received())
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, header(`,"cty":"`+cty+`"`), claims)), "")
		if r.status != 401 {
			t.Errorf("cty %q: %d %s, want 401", cty, r.status, r.body)
			continue
		}
		if e := r.errorBody(t); e.Error != "unauthenticated" {
			t.Errorf("cty %q: error %q, want unauthenticated", cty, e.Error)
		}
		if n := len(st.up.received()); n != before {
			t.Errorf("cty %q: the service got the request", cty)
		}
		if rec := st.sink.last(t); rec.Decision != audit.Unauthenticated {
			t.Errorf("cty %q: audited %v, want unauthenticated", cty, rec.Decision)
		}
	}
}
