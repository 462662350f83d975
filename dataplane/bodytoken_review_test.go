package dataplane

import (
	"strconv"
	"strings"
	"testing"
)

// Review97 looked for a credential in a body that the sidecar does not
// verify and a service reads as if it were: Rack 2's key of a bracketed
// name ("[access_token]") and the names the query check refuses
// (queryTokenParams) in urlencoded, JSON and multipart bodies, over some
// fifty spellings (escapes, separators, blanks, charsets, comments, BOM,
// line folding, LF-only multipart, extended parameters). No token name a
// framework reads from a body by default got past the scan. What goes on
// does so by design (docs/trust-boundary.md): "api_key", "apikey" and
// "token" in a body (no default reader takes them there; bodies name
// third-party keys and push, captcha and reset tokens so), a text/plain
// body, and a JSON body whose member names are in single quotes or bare
// (JSON5: Express's, Rails', Laravel's, Jackson's and System.Text.Json's
// default parsers refuse it, so nothing reads a token from it by
// default; MVC 5's parser takes it, for which tenant names are scanned
// there, tenantJSON).

// TestBodyTokenNamesAsDesigned sends, over a real socket, an acme key's
// uploads carrying a token under those names and types: the token names
// frameworks read from bodies are refused 400 and never reach the
// upstream; the deliberate non-checks reach it.
func TestBodyTokenNamesAsDesigned(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	tok := mint(t, demoClaims("globex-bi", "globex", "read:users"))
	send := func(ctype, body string) reply {
		t.Helper()
		h := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n"
		if ctype != "" {
			h += "Content-Type: " + ctype + "\r\n"
		}
		return raw(t, st.addr, h+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	}
	part := func(disp string) string {
		return "--XyZ\r\nContent-Disposition: form-data; " + disp + "\r\n\r\n" + tok + "\r\n--XyZ--\r\n"
	}
	const form, mp, js = "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "application/json"
	for _, c := range []struct {
		ctype, body string
		refused     bool
	}{
		{form, "[access_token]=" + tok, true},
		{form, "%5Baccess_token%5D=" + tok, true},
		{form, "]]access_token]=" + tok, true},
		{"", "[bearer_token]=" + tok, true},
		{js, `{"[access_token]":"` + tok + `"}`, true},
		{js, `{"a":[1,{"b":"}"}],"access\u005ftoken":"` + tok + `"}`, true},
		{mp, part(`name="[access_token]"`), true},
		{mp, part(`name=[api_token]`), true},
		{mp, part(`name*=UTF-8''access_token`), true},
		// By design: not refused in a body.
		{form, "api_key=" + tok, false},
		{form, "[api_key]=" + tok, false},
		{form, "apikey=" + tok + "&token=" + tok, false},
		{js, `{"api_key":"` + tok + `","token":"` + tok + `"}`, false},
		{mp, part(`name="[api_key]"`), false},
		{"text/plain", "access_token=" + tok, false},
		{js, `{'access_token':'` + tok + `'}`, false},
		{js, `{access_token:"` + tok + `"}`, false},
	} {
		n := len(rec.received())
		r := send(c.ctype, c.body)
		got := rec.received()[n:]
		what := strings.ReplaceAll("("+c.ctype+") "+c.body, tok, "TOKEN")
		switch {
		case c.refused && (r.status != 400 || len(got) != 0):
			t.Errorf("POST %s as acme-hris: %d, reached the upstream %d times; want 400 and nothing forwarded", what, r.status, len(got))
		case !c.refused && (r.status != 200 || len(got) != 1):
			t.Errorf("POST %s as acme-hris: %d %s, reached the upstream %d times; want 200, forwarded", what, r.status, r.body, len(got))
		}
	}
}
