package dataplane

import (
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// The sidecar takes a credential only from X-API-Key or Authorization and
// verifies that one, but RFC 6750 (sections 2.2 and 2.3) lets a client
// send a bearer token as access_token in the query or an urlencoded body,
// where passport-http-bearer reads it by default (Spring Security and
// ASP.NET's JwtBearer when told to). Forwarded, such a token reached the
// service unverified, on a public route without any credential or beside
// another client's key, with none of the sidecar's scopes, limits or
// revocations applied to whom it names. A request carrying one, spelt as
// the frameworks decode the name, is refused 400 and never forwarded;
// names that only contain it pass.
func TestAccessTokenParamRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	tok := mint(t, demoClaims("acme-admin", "acme", "admin:settings"))
	send := func(method, target, cred, body string) (refused bool) {
		t.Helper()
		n := len(rec.received())
		req := method + " " + target + " HTTP/1.1\r\nHost: svc\r\n" + cred
		if body != "" {
			req += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		r := raw(t, st.addr, req+"Connection: close\r\n\r\n"+body)
		reached := len(rec.received()) - n
		switch {
		case r.status == 400 && r.errorBody(t).Error == "bad_request" && reached == 0:
			if d := st.sink.last(t).Decision; d != audit.BadRequest {
				t.Errorf("%s %s refused, audited %v, want bad_request", method, strings.ReplaceAll(target, tok, "TOKEN"), d)
			}
			return true
		case r.status == 200 && reached == 1:
			return false
		}
		t.Fatalf("%s %s %q: %d %s, reached the upstream %d times", method, strings.ReplaceAll(target, tok, "TOKEN"), body, r.status, r.body, reached)
		return false
	}
	key := "X-API-Key: " + hrisKey + "\r\n"
	for _, c := range []struct{ method, target, cred, body string }{
		{"GET", "/v1/status?access_token=" + tok, "", ""}, // a public route: no credential checked at all
		{"GET", "/v1/users?x=1&access_token=" + tok, key, ""},
		{"GET", "/v1/users?ACCESS_TOKEN=" + tok, key, ""},
		{"GET", "/v1/users?access%5Ftoken=" + tok, key, ""},
		{"GET", "/v1/users?access.token=" + tok, key, ""}, // PHP reads '.' as '_'
		{"GET", "/v1/users?access+token=" + tok, key, ""},
		{"GET", "/v1/users?access[token=" + tok, key, ""},
		{"GET", "/v1/users?access_token[]=" + tok, key, ""},
		{"GET", "/v1/users?%5Baccess_token%5D=" + tok, key, ""}, // Rack's nested key
		{"GET", "/v1/users?a=1;access_token=" + tok, key, ""},
		{"POST", "/v1/records", key, "a=1&access_token=" + tok},
	} {
		if !send(c.method, c.target, c.cred, c.body) {
			t.Errorf("%s %s %q was forwarded", c.method, strings.ReplaceAll(c.target, tok, "TOKEN"), strings.ReplaceAll(c.body, tok, "TOKEN"))
		}
	}
	for _, c := range []struct{ method, target, cred, body string }{
		{"GET", "/v1/status?token_type=bearer", "", ""},
		{"GET", "/v1/users?access_token_hint=1&x_access_token=2", key, ""},
		{"GET", "/v1/users?q=access_token", key, ""},
		{"POST", "/v1/records", key, "note=access_token"},
	} {
		if send(c.method, c.target, c.cred, c.body) {
			t.Errorf("%s %s %q was refused", c.method, c.target, c.body)
		}
	}
}
