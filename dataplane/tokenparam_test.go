package dataplane

import (
	"strconv"
	"strings"
	"testing"
)

// Finding (review64): the sidecar refused a bearer token sent as an
// access_token parameter (RFC 6750), but frameworks read tokens from
// other parameters by default: Doorkeeper, Rails' OAuth provider, takes
// request.parameters[:bearer_token] when neither the Authorization header
// nor access_token holds one (access_token_methods), and Laravel's token
// guard takes api_token from the query, then the input, before the bearer
// header. And Rails parses a body typed text/x-json as JSON (a synonym of
// application/json in its MIME table) where the scan read no JSON type:
// {"access_token":...} under it reached Doorkeeper. Each went on
// unverified, beside an acme key, to a service that authenticates on it.

// TestTokenParamsRefused sends, over a real socket, an acme key's requests
// carrying a globex token in those parameters and types: each is refused
// 400 and nothing reaches the upstream. Look-alike names go on.
func TestTokenParamsRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	tok := mint(t, demoClaims("globex-bi", "globex", "read:users"))
	send := func(target, ctype, body string) reply {
		t.Helper()
		h := "POST " + target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n"
		if ctype != "" {
			h += "Content-Type: " + ctype + "\r\n"
		}
		return raw(t, st.addr, h+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	}
	part := func(name string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=" + name + "\r\n\r\n" + tok + "\r\n--XyZ--\r\n"
	}
	const form, mp = "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ"
	for _, c := range []struct {
		target, ctype, body string
		refused             bool
	}{
		{"/v1/records?bearer_token=" + tok, "", "", true},
		{"/v1/records?BEARER%5FTOKEN=" + tok, "", "", true},
		{"/v1/records?api_token=" + tok, "", "", true},
		{"/v1/records?api.token=" + tok, "", "", true}, // PHP reads '.' as '_'
		{"/v1/records?%5Bapi_token%5D=" + tok, "", "", true},
		{"/v1/records", form, "a=1&bearer_token=" + tok, true},
		{"/v1/records", form, "api_token[]=" + tok, true},
		{"/v1/records", "application/json", `{"bearer_token":"` + tok + `"}`, true},
		{"/v1/records", "application/json", `{"Api_Token":"` + tok + `"}`, true},
		{"/v1/records", mp, part(`"bearer_token"`), true},
		{"/v1/records", "text/x-json", `{"access_token":"` + tok + `"}`, true},
		{"/v1/records", "Text/X-JSON; charset=utf-8", `{"_method":"DELETE"}`, true},
		{"/v1/records?bearer_token_hint=1&api_tokens=2&x_api_token=3", "", "", false},
		{"/v1/records", "application/json", `{"note":"bearer_token","a":{"api_token":1}}`, false},
		{"/v1/records", "text/x-json", `{"note":"access_token"}`, false},
	} {
		n := len(rec.received())
		r := send(c.target, c.ctype, c.body)
		reached := len(rec.received()) - n
		what := strings.ReplaceAll(c.target+" ("+c.ctype+") "+c.body, tok, "TOKEN")
		switch {
		case c.refused && (r.status != 400 || reached != 0):
			t.Errorf("POST %s as acme-hris: %d, reached the upstream %d times; want 400 and nothing forwarded", what, r.status, reached)
		case !c.refused && (r.status != 200 || reached != 1):
			t.Errorf("POST %s as acme-hris: %d %s, reached the upstream %d times; want 200, forwarded", what, r.status, r.body, reached)
		}
	}
}

// Finding (review64): ASP.NET (System.Web, under MVC 5 and Web API 2)
// decodes %uXXXX escapes in query and form names (HttpUtility.UrlDecode),
// which the scan already knew for X-HTTP-Method-Override, but the tenant,
// token and _method names were decoded without them. MVC 5 binds the form
// before the route's data, so a form field %u0074enant=globex was its
// action's tenant, past the binding of the path.

// TestParamNamesPercentUDecoded sends, over a real socket, an acme key's
// requests naming tenant, access_token and _method with %u escapes: each
// is refused 400 and nothing reaches the upstream.
func TestParamNamesPercentUDecoded(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	const form = "application/x-www-form-urlencoded"
	for _, c := range []struct{ target, body string }{
		{"/v1/tenants/acme/records", "%u0074enant=globex"},
		{"/v1/tenants/acme/records", "q.%u0054ENANT=globex"},
		{"/v1/tenants/acme/records?%U0074enant=globex", ""},
		{"/v1/records?%u0061ccess_token=x", ""},
		{"/v1/records", "bearer%u005ftoken=x"},
		{"/v1/records", "%u005fmethod=DELETE"},
	} {
		n := len(rec.received())
		r := raw(t, st.addr, "POST "+c.target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+
			"\r\nContent-Type: "+form+"\r\nContent-Length: "+strconv.Itoa(len(c.body))+"\r\n\r\n"+c.body)
		if reached := len(rec.received()) - n; r.status != 400 || reached != 0 {
			t.Errorf("POST %s %q as acme-hris: %d, reached the upstream %d times; want 400 and nothing forwarded", c.target, c.body, r.status, reached)
		}
	}
}

// Finding (review64): ASP.NET (System.Web: MVC 5, Web API 2) fills
// Request.Form from any body whose Content-Type starts with
// application/x-www-form-urlencoded, ignoring case
// (HttpRequest.FillInFormCollection), where the scan took only that media
// type exactly: "application/x-www-form-urlencodedX" was no form to it,
// so X-HTTP-Method-Override or a tenant field in such a body went on,
// and MVC 5 binds the form before the route's data.

// TestFormTypePrefixScanned sends, over a real socket, an acme key's
// bodies so typed: each is refused 400 and nothing reaches the upstream.
func TestFormTypePrefixScanned(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	for _, c := range []struct{ target, ctype, body string }{
		{"/v1/tenants/acme/records", "application/x-www-form-urlencodedX", "tenant=globex"},
		{"/v1/records", "Application/X-WWW-Form-UrlencodedXYZ; charset=utf-8", "X-HTTP-Method-Override=DELETE"},
		{"/v1/records", "application/x-www-form-urlencoded-v2", "access_token=x"},
	} {
		n := len(rec.received())
		r := raw(t, st.addr, "POST "+c.target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+
			"\r\nContent-Type: "+c.ctype+"\r\nContent-Length: "+strconv.Itoa(len(c.body))+"\r\n\r\n"+c.body)
		if reached := len(rec.received()) - n; r.status != 400 || reached != 0 {
			t.Errorf("POST %s (%s) %q as acme-hris: %d, reached the upstream %d times; want 400 and nothing forwarded", c.target, c.ctype, c.body, r.status, reached)
		}
	}
}
