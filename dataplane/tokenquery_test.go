package dataplane

import (
	"strconv"
	"strings"
	"testing"
)

// Finding (read93): the query parameters refused as credentials were
// access_token, bearer_token and api_token, but two common readers take
// a token from a parameter named plain "token" by default: hapi's JWT
// plugin, hapi-auth-jwt2, reads request.query.token before the
// Authorization header (its urlKey, "token" unless configured), and
// Gitea's API takes ?token= beside ?access_token=. Such a token went on
// unverified, beside an acme key that the sidecar admitted, so the
// service acted for whom it named, with none of the sidecar's scopes,
// limits or revocations applied; and on a public route without any
// credential.

// TestTokenQueryParamRefused sends, over a real socket, an acme key's
// requests carrying a globex token as a "token" query parameter, in the
// spellings decoders read as that name, and a public route's request
// without any credential: each is refused 400 and nothing reaches the
// upstream. Other names, and "token" in a body (where hapi-auth-jwt2
// does not look, and where JSON bodies name push and captcha tokens so),
// go on.
func TestTokenQueryParamRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	tok := mint(t, demoClaims("globex-bi", "globex", "read:reports"))
	send := func(method, target, ctype, body string) reply {
		t.Helper()
		h := method + " " + target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n"
		if !strings.HasPrefix(target, "/v1/status") {
			h += "X-API-Key: " + hrisKey + "\r\n"
		}
		if ctype != "" {
			h += "Content-Type: " + ctype + "\r\n"
		}
		if body != "" {
			h += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		return raw(t, st.addr, h+"\r\n"+body)
	}
	for _, c := range []struct {
		method, target, ctype, body string
		refused                     bool
	}{
		{"GET", "/v1/users?token=" + tok, "", "", true},
		{"GET", "/v1/status?token=" + tok, "", "", true}, // public: no credential at all
		{"POST", "/v1/records?a=1&token=" + tok, "", "", true},
		{"GET", "/v1/users?a=1;Token=" + tok, "", "", true},
		{"GET", "/v1/users?%74oken=" + tok, "", "", true},
		{"GET", "/v1/users?%u0074oken=" + tok, "", "", true},
		{"GET", "/v1/users?token[]=" + tok, "", "", true},
		{"GET", "/v1/users?+token=" + tok, "", "", true},
		{"GET", "/v1/users?page_token=abc&tokens=2&_token=csrf&token_type=x", "", "", false},
		{"POST", "/v1/records", "application/json", `{"token":"fcm-push-token"}`, false},
		{"POST", "/v1/records", "application/x-www-form-urlencoded", "token=reset-123", false},
		// A key in the query (read93): OpenAPI's apiKey in query, FastAPI's
		// APIKeyQuery; on a public route the client's own key went on to
		// the service and its access logs, unverified.
		{"GET", "/v1/status?api_key=" + hrisKey, "", "", true},
		{"GET", "/v1/users?a=1&API_KEY=x", "", "", true},
		{"GET", "/v1/users?api.key=x", "", "", true},
		{"GET", "/v1/users?api%5fkey=x", "", "", true},
		{"GET", "/v1/users?apikey=x", "", "", true},
		{"GET", "/v1/users?ApiKey[]=x", "", "", true},
		// Rack 2's key of a name in brackets (read96): "[api_key]" is
		// params["api_key"], as tokenName reads "[access_token]".
		// (A raw '[' in the target is refused before this.)
		{"GET", "/v1/users?%5Bapi_key%5D=x", "", "", true},
		{"GET", "/v1/users?%5BApiKey%5D=x", "", "", true},
		{"GET", "/v1/users?%5B%5Btoken%5D%5D=x", "", "", true},
		{"GET", "/v1/users?user%5Btoken%5D=x&%5Bapi_keys%5D=y&%5Bapi.key%5D=z", "", "", false},
		{"GET", "/v1/users?api_keys=2&apikeyid=3&key=4&api_key_id=5", "", "", false},
		{"POST", "/v1/records", "application/json", `{"api_key":"sk_live_third_party"}`, false},
	} {
		n := len(rec.received())
		r := send(c.method, c.target, c.ctype, c.body)
		reached := len(rec.received()) - n
		what := strings.ReplaceAll(c.method+" "+c.target+" "+c.body, tok, "TOKEN")
		switch {
		case c.refused && (r.status != 400 || reached != 0):
			t.Errorf("%s: %d, reached the upstream %d times; want 400 and nothing forwarded", what, r.status, reached)
		case c.refused && r.errorBody(t).Error != "bad_request":
			t.Errorf("%s: error %q, want bad_request", what, r.errorBody(t).Error)
		case !c.refused && (r.status != 200 || reached != 1):
			t.Errorf("%s: %d %s, reached the upstream %d times; want 200, forwarded", what, r.status, r.body, reached)
		}
	}
}
