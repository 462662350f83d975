package dataplane

import (
	"strconv"
	"strings"
	"testing"
)

// A method override parameter makes frameworks serve a POST as another
// method: Laravel and Symfony read "_method" from the query string and
// from form bodies (PHP turns a leading '.', ' ' or '[' of a name into
// '_' and drops leading spaces), Laravel from a JSON body's members too,
// Spring's HiddenHttpMethodFilter from the query or a form body, Rails'
// Rack::MethodOverride from urlencoded and multipart bodies (and from a
// body without Content-Type, or a multipart one without a boundary). A
// multipart body whose boundary PHP and Rack would read differently is
// refused too. A client allowed
// POST /v1/records (write:records) would reach the service's
// DELETE /v1/records, whatever scope the policy gives that route. Such
// requests are refused with 400 and never reach the upstream; names that
// only look alike are forwarded.
func TestMethodOverrideParamsRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	post := func(target, ctype, body string) reply {
		t.Helper()
		h := "POST " + target + " HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
		if ctype != "" {
			h += "Content-Type: " + ctype + "\r\n"
		}
		return raw(t, st.addr, h+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	}
	const form = "application/x-www-form-urlencoded"
	multipart := func(name string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n" +
			"--XyZ\r\nContent-Disposition: form-data; " + name + "\r\n\r\nDELETE\r\n--XyZ--\r\n"
	}
	refused := []struct{ target, ctype, body string }{
		{"/v1/records?_method=DELETE", "", ""},
		// Above 16 KiB the route and credential are checked before the
		// body is read (prebody.go); the body is scanned all the same.
		{"/v1/records", form, "a=" + strings.Repeat("x", 40<<10) + "&_method=DELETE"},
		{"/v1/records", "application/json", `{"a":"` + strings.Repeat("x", 40<<10) + `","_method":"DELETE"}`},
		{"/v1/records?a=1&_method=DELETE", "application/json", "{}"},
		{"/v1/records?a=1;_method=DELETE", "", ""},
		{"/v1/records?_METHOD=delete", "", ""},
		{"/v1/records?%5Fmethod=DELETE", "", ""},
		{"/v1/records?%5fmeth%6Fd=DELETE", "", ""},
		{"/v1/records?.method=DELETE", "", ""},
		{"/v1/records?+.method=DELETE", "", ""},
		{"/v1/records?%20%20.method=DELETE", "", ""},
		{"/v1/records?%5Bmethod=DELETE", "", ""},
		{"/v1/records?_method[]=DELETE", "", ""},
		{"/v1/records?_method%00x=DELETE", "", ""},
		{"/v1/records?_method", "", ""},
		{"/v1/records", form, "_method=DELETE"},
		{"/v1/records", form + "; charset=UTF-8", "a=1&_method=PATCH"},
		{"/v1/records", "Application/X-WWW-Form-URLEncoded", "a=1&%5Fmethod=PATCH"},
		{"/v1/records", "", "a=1&_method=DELETE"},
		{"/v1/records", "multipart/form-data; boundary=XyZ", multipart(`name="_method"`)},
		{"/v1/records", `multipart/form-data; boundary="XyZ"`, multipart(`name=_method`)},
		{"/v1/records", "Multipart/Form-Data; charset=utf-8; BOUNDARY=XyZ", multipart(`NAME = "_method"`)},
		{"/v1/records", "multipart/form-data; boundary=XyZ", multipart(`name=".method"`)},
		{"/v1/records", "multipart/form-data; boundary=XyZ", multipart(`name=_method x`)},
		{"/v1/records", "multipart/related; boundary=XyZ", multipart(`name="_method"`)},
		// parsers that disagree about the boundary
		{"/v1/records", "multipart/form-data; boundary=AbC; x=boundary=XyZ", multipart(`name="_method"`)},
		{"/v1/records", "multipart/form-data; boundaryx; a=XyZ; boundary=AbC", multipart(`name="_method"`)},
		{"/v1/records", "multipart/form-data; boundary =XyZ", multipart(`name="_method"`)},
		{"/v1/records", `multipart/form-data; boundary=""`, multipart(`name="a"`)},
		// no boundary: Rack reads the body as a urlencoded form
		{"/v1/records", "multipart/form-data", "a=1&_method=DELETE"},
		// PHP and Rack end the media type at ',' or a blank too
		{"/v1/records", "application/x-www-form-urlencoded, text/plain", "_method=DELETE"},
		// Laravel takes a JSON body's members as parameters
		{"/v1/records", "application/json", `{"_method":"DELETE"}`},
		{"/v1/records", "application/vnd.api+json; charset=utf-8", ` { "a" : [1, {"_method": 2}, "x\"y"], "\u005Fmethod" : "PATCH" }`},
		{"/v1/records", "application/json", `{"a":{"b":"}"},"_METHOD":"DELETE"}`},
	}
	for _, c := range refused {
		n := len(rec.received())
		r := post(c.target, c.ctype, c.body)
		if r.status != 400 || r.errorBody(t).Error != "bad_request" {
			t.Errorf("POST %s (%s) %q: %d %s, want 400 bad_request", c.target, c.ctype, c.body, r.status, r.body)
		}
		if got := len(rec.received()) - n; got != 0 {
			t.Errorf("POST %s (%s) %q reached the upstream", c.target, c.ctype, c.body)
		}
	}
	// A chunked body has no Content-Length: the checks skipped for a
	// request without a body (hasBody) must still scan it.
	chunk := "a=1&_method=DELETE"
	r := raw(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nContent-Type: "+form+
		"\r\nTransfer-Encoding: chunked\r\n\r\n"+strconv.FormatInt(int64(len(chunk)), 16)+"\r\n"+chunk+"\r\n0\r\n\r\n")
	if r.status != 400 || r.errorBody(t).Error != "bad_request" {
		t.Errorf("chunked POST with _method in its form body: %d %s, want 400 bad_request", r.status, r.body)
	}
	forwarded := []struct{ target, ctype, body string }{
		{"/v1/records?method=DELETE&+method=1", "", ""},
		{"/v1/records?_methods=DELETE&x_method=1&a=_method", "", ""},
		{"/v1/records?a=%26_method%3DDELETE", "", ""},
		{"/v1/records", "application/json", `{"method":"DELETE","q":"a&_method=DELETE","_method_":1}`},
		{"/v1/records", form, "a=_method&b=1"},
		{"/v1/records", "multipart/form-data; boundary=XyZ", multipart(`name="file"; filename="_method"`)},
		{"/v1/records", "multipart/form-data; boundary=XyZ", multipart(`name="methods"`)},
		{"/v1/records", "multipart/form-data; boundary=----WebKitFormBoundaryQ; charset=utf-8",
			"------WebKitFormBoundaryQ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n_method=1\r\n------WebKitFormBoundaryQ--\r\n"},
		{"/v1/records", "application/json", `{"a":{"_method":"DELETE"},"b":["_method"],"c":"_method"}`},
		{"/v1/records", "application/json", `[{"_method":"DELETE"}]`},
		{"/v1/records", "text/plain", "_method=DELETE"},
	}
	for _, c := range forwarded {
		n := len(rec.received())
		r := post(c.target, c.ctype, c.body)
		if r.status != 200 {
			t.Errorf("POST %s (%s) %q: %d %s, want 200", c.target, c.ctype, c.body, r.status, r.body)
			continue
		}
		if got := rec.only(t, n); got.method != "POST" || !strings.HasPrefix(got.uri, "/v1/records") || string(got.body) != c.body {
			t.Errorf("upstream got %s %s %q", got.method, got.uri, got.body)
		}
	}
}

// FuzzOverrideScan runs the override scanners on arbitrary bytes: they
// index by hand, and a panic would answer 500 to any client: nothing may
// panic or fail to end.
func FuzzOverrideScan(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"\"}"}],"\u005fmethod":1}`), []byte("multipart/form-data; boundary=XyZ"))
	f.Add([]byte("--XyZ\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nx\r\n--XyZ--"), []byte(`multipart/mixed; boundary="XyZ"`))
	f.Add([]byte("a=1&%5Fmethod=2;+.method"), []byte("boundary=; boundary"))
	f.Add([]byte("access%2Etoken[]=x&%5Baccess_token%5D=y;+ACCESS+TOKEN"), []byte("application/x-www-form-urlencoded"))
	f.Add([]byte("X-HTTP-METHOD-OVERRIDE=1&%u0058-http-method-override%u=2;%U00ff"), []byte("application/x-www-form-urlencoded"))
	f.Add([]byte("%74enant[]=x&[TENANT]=y;+Tenant&name=\"ten\\ant\""), []byte("multipart/form-data; boundary=\"x\""))
	f.Add([]byte(`{"q":[0,{"a.\u0054enant":"\\"}],"x\"":"tenant"`), []byte("application/json"))
	f.Add([]byte("/**/{\"a\":[/*\"]*/1],//\n\"tenant\"/*:*/:1,\"b\":/*"), []byte("application/json"))
	f.Fuzz(func(t *testing.T, body, ct []byte) {
		overrideForm(body, true)
		overrideJSON(body, true)
		if b, ok := boundaryParam(ct); ok && len(b) > 0 {
			overrideMultipart(body, b, true)
		}
		overrideNameParam(body, true)
		overrideContentID(body, true)
		tenantField(body)
		tenantJSON(body)
		tenantCookie(body)
		overrideHeaderName(body)
		tenantPart(body)
		overrideEscaped(body)
		overrideRackName(body)
		tokenName(body)
		mediaType(ct)
		jsonType(ct)
		foreignCharset(ct)
		tomcatBoundary(ct)
	})
}
