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

// passport-http-bearer takes req.body.access_token whatever filled
// req.body: Express's JSON parser from a JSON object's member, multer
// from a multipart part. The scan read only urlencoded bodies for it (RFC
// 6750 names only those), so a token in a JSON or multipart body went on
// unverified beside another client's key, or on a public route without
// any (review53). Refused now; a member deeper in the object, which
// passport never reads, goes on.
func TestAccessTokenInJSONAndMultipartBodyRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	tok := mint(t, demoClaims("acme-admin", "acme", "admin:settings"))
	post := func(ctype, body string) reply {
		t.Helper()
		return raw(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nContent-Type: "+ctype+
			"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	}
	part := func(name string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=" + name + "\r\n\r\n" + tok + "\r\n--XyZ--\r\n"
	}
	const mp = "multipart/form-data; boundary=XyZ"
	for _, c := range []struct {
		ctype, body string
		refused     bool
	}{
		{"application/json", `{"a":1,"access_token":"` + tok + `"}`, true},
		{"application/json", `{"ACCESS_TOKEN":"` + tok + `"}`, true},
		{"application/json", `{"access\u005ftoken":"` + tok + `"}`, true},
		{"application/vnd.api+json", `{"access_token":"` + tok + `"}`, true},
		{mp, part(`"access_token"`), true},
		{mp, part(`"access\_token"`), true}, // Rack undoes the escape
		{mp, part(`access_token`), true},
		{"application/json", `{"a":{"access_token":"` + tok + `"},"b":"access_token"}`, false},
		{mp, part(`"access_tokens"`), false},
	} {
		n := len(rec.received())
		r := post(c.ctype, c.body)
		reached := len(rec.received()) - n
		body := strings.ReplaceAll(c.body, tok, "TOKEN")
		switch {
		case c.refused && (r.status != 400 || reached != 0):
			t.Errorf("POST %s %q: %d, reached the upstream %d times; want 400 and nothing forwarded", c.ctype, body, r.status, reached)
		case !c.refused && (r.status != 200 || reached != 1):
			t.Errorf("POST %s %q: %d %s, reached the upstream %d times; want 200, forwarded", c.ctype, body, r.status, r.body, reached)
		}
	}
}
