package dataplane

import (
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// Finding (review53): the override headers are removed and _method is
// refused, but ASP.NET MVC 5 and Web Pages also read a POST's method from
// a form field or a query parameter named X-HTTP-Method-Override
// (System.Web.Mvc's GetHttpMethodOverride: the header, then the form, then
// the query string, names compared without case), and select
// [HttpDelete] and [HttpPut] actions by it. POST
// /v1/records?X-HTTP-Method-Override=DELETE, allowed with write:records,
// reached such a service as its DELETE /v1/records. It is refused now,
// as _method is.
func TestMethodOverrideAspNetParamRefused(t *testing.T) {
	t.Parallel()
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { // more requests than the example's burst
		for i := range d.Clients {
			d.Clients[i].Limit = &policy.LimitSpec{Rate: "1000/s", Burst: 1000}
		}
	})
	post := func(target, ctype, body string) reply {
		t.Helper()
		h := "POST " + target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n"
		if ctype != "" {
			h += "Content-Type: " + ctype + "\r\n"
		}
		return raw(t, st.addr, h+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	}
	const form = "application/x-www-form-urlencoded"
	multipart := func(name string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\nDELETE\r\n--XyZ--\r\n"
	}
	refused := []struct{ target, ctype, body string }{
		{"/v1/records?X-HTTP-Method-Override=DELETE", "", "{}"},
		{"/v1/records?a=1&x-http-method-override=PUT", "", "{}"},
		{"/v1/records?X-Http-Method-Override=DELETE", "", "{}"},
		{"/v1/records?%58-HTTP-Method-Override=DELETE", "", "{}"},
		{"/v1/records?%u0058-HTTP-Method-Override=DELETE", "", "{}"}, // HttpUtility.UrlDecode's %u
		{"/v1/records?X-HTTP-Method%2DOverride=DELETE", "", "{}"},
		{"/v1/records", form, "a=1&X-HTTP-Method-Override=DELETE"},
		{"/v1/records", "multipart/form-data; boundary=XyZ", multipart("X-HTTP-Method-Override")},
	}
	for _, c := range refused {
		n := len(rec.received())
		r := post(c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("POST %s (%s) %q: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				c.target, c.ctype, c.body, r.status, len(got))
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("POST %s %q: error %q, want bad_request", c.target, c.body, e.Error)
		}
	}
	forwarded := []struct{ target, ctype, body string }{
		{"/v1/records?X-HTTP-Method-Overrides=DELETE&X-HTTP-Method=DELETE&a=X-HTTP-Method-Override", "", "{}"},
		{"/v1/records", form, "a=X-HTTP-Method-Override&X-HTTP-Method-Overrid=1"},
		{"/v1/records", "application/json", `{"X-HTTP-Method-Override":"DELETE"}`}, // no form to MVC
	}
	for _, c := range forwarded {
		n := len(rec.received())
		r := post(c.target, c.ctype, c.body)
		got := rec.received()[n:]
		if r.status != 200 || len(got) != 1 || got[0].method != "POST" || !strings.HasPrefix(got[0].uri, "/v1/records") || string(got[0].body) != c.body {
			t.Errorf("POST %s (%s) %q: %d %s, the upstream got %d request(s); want 200 and the POST forwarded",
				c.target, c.ctype, c.body, r.status, r.body, len(got))
		}
	}
}

// Finding (review53): Perl's Plack::Middleware::MethodOverride serves a
// POST as the method a query parameter x-tunneled-method names, and
// Catalyst's REST::ForBrowsers as the one a body parameter of that name
// does: POST /v1/records?x-tunneled-method=DELETE reached such a service
// as DELETE /v1/records. Refused now, as _method is.
func TestMethodOverridePlackParamRefused(t *testing.T) {
	t.Parallel()
	st, rec := startRecorded(t, nil)
	post := func(target, ctype, body string) reply {
		t.Helper()
		h := "POST " + target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n"
		if ctype != "" {
			h += "Content-Type: " + ctype + "\r\n"
		}
		return raw(t, st.addr, h+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	}
	for _, c := range []struct{ target, ctype, body string }{
		{"/v1/records?x-tunneled-method=DELETE", "", "{}"},
		{"/v1/records?a=1;X-Tunneled-Method=PUT", "", "{}"},
		{"/v1/records", "application/x-www-form-urlencoded", "x-tunneled-method=DELETE"},
	} {
		n := len(rec.received())
		r := post(c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("POST %s (%s) %q: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				c.target, c.ctype, c.body, r.status, len(got))
		}
	}
}
