package dataplane

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
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
