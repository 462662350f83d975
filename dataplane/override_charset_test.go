package dataplane

import (
	"strconv"
	"testing"
)

// postOverride sends a POST with the given Content-Type and body to the
// sidecar and says whether it was refused with 400 bad_request without
// reaching the upstream (true) or forwarded with 200 (false).
func postOverride(t *testing.T, st *stack, rec *recorder, ctype, body string) bool {
	t.Helper()
	n := len(rec.received())
	r := raw(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nContent-Type: "+ctype+
		"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	reached := len(rec.received()) - n
	switch {
	case r.status == 400 && r.errorBody(t).Error == "bad_request" && reached == 0:
		return true
	case r.status == 200 && reached == 1:
		return false
	}
	t.Fatalf("POST (%s) %q: %d %s, reached the upstream %d times", ctype, body, r.status, r.body, reached)
	return false
}

// ebcdic writes s in IBM037 (EBCDIC), for the letters and '_' it uses.
func ebcdic(s string) string {
	m := map[rune]byte{'_': 0x6D, 'm': 0x94, 'e': 0x85, 't': 0xA3, 'h': 0x88, 'o': 0x96, 'd': 0x84,
		'D': 0xC4, 'E': 0xC5, 'L': 0xD3, 'T': 0xE3}
	b := make([]byte, 0, len(s))
	for _, c := range s {
		b = append(b, m[c])
	}
	return string(b)
}

// Servlet containers (Tomcat, under Spring's HiddenHttpMethodFilter) split
// a form body at the bytes '&' and '=' and decode each name and value in
// the charset its Content-Type names: "_method" written in IBM037 (EBCDIC)
// or UTF-16 is "_method" to them and nothing to a byte scan. A form,
// multipart or JSON body whose charset is not one in which ASCII is ASCII
// is refused; the usual ones are forwarded.
func TestMethodOverrideForeignCharsetRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const form = "application/x-www-form-urlencoded"
	utf16be := "\x00_\x00m\x00e\x00t\x00h\x00o\x00d=\x00D\x00E\x00L\x00E\x00T\x00E"
	for _, c := range []struct{ ctype, body string }{
		{form + "; charset=ibm037", "a=1&" + ebcdic("_method") + "=" + ebcdic("DELETE")},
		{form + "; charset=\"IBM037\"", ebcdic("_method") + "=" + ebcdic("DELETE")},
		{form + ";charset = cp037", ebcdic("_method") + "=" + ebcdic("DELETE")},
		{form + "; charset=UTF-16BE", utf16be},
		{form + "; charset=utf-8; charset=utf-16be", utf16be},
		{"; charset=ibm037", ebcdic("_method") + "=" + ebcdic("DELETE")},
		// stateful: an escape switches to ASCII, a shift to base64
		{form + "; charset=ISO-2022-JP", "\x1b(B_method=DELETE"},
		{form + "; charset=UTF-7", "+AF8-method=DELETE"},
		{"multipart/form-data; charset=ibm500; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n"},
		// Express's JSON parser decodes UTF-16 too (TestJSONBodyBOMAndCharsetScanned)
		{"application/json; charset=utf-16", `{"a":1}`},
	} {
		if !postOverride(t, st, rec, c.ctype, c.body) {
			t.Errorf("POST (%s) %q was forwarded", c.ctype, c.body)
		}
	}
	for _, c := range []struct{ ctype, body string }{
		{form + "; charset=UTF-8", "a=1&b=2"},
		{form + "; charset=\"utf-8\"", "a=1"},
		{form + "; charset=ISO-8859-1", "a=1"},
		{form + "; charset=us-ascii", "a=1"},
		{form + "; charset=windows-1252", "a=1"},
		{form + "; charset=Shift_JIS", "a=1"},
		{form + "; charset=EUC-JP", "a=1"},
		{form + "; charset=GBK", "a=1"},
		{form + "; charset=windows-1251", "a=1"},
		{form + "; charset=KOI8-R", "a=1"},
		{form + "; charset=ISO-8859-2", "a=1"},
		{"text/plain; charset=ibm037", "x"},
	} {
		if postOverride(t, st, rec, c.ctype, c.body) {
			t.Errorf("POST (%s) %q was refused", c.ctype, c.body)
		}
	}
}

// Tomcat's multipart parser (Spring's StandardServletMultipartResolver,
// under HiddenHttpMethodFilter) names a part by more spellings than
// name="...": an RFC 2231 extended parameter (name*=UTF-8”%5Fmethod), an
// RFC 2047 encoded word (name="=?UTF-8?B?X21ldGhvZA==?="), and a header
// folded over lines (a line starting with a blank continues the one
// before). Each such part naming _method is refused; filename* and plain
// names that only look alike are forwarded.
func TestMethodOverrideMultipartSpellingsRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const ct = "multipart/form-data; boundary=XyZ"
	part := func(disposition string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n" +
			"--XyZ\r\nContent-Disposition: " + disposition + "\r\n\r\nDELETE\r\n--XyZ--\r\n"
	}
	for _, d := range []string{
		`form-data; name*=UTF-8''%5Fmethod`,
		`form-data; NAME* = "utf-8'en'_method"`,
		`form-data; name="=?UTF-8?B?X21ldGhvZA==?="`,
		`form-data; name="=?utf-8?q?=5Fmethod?="`,
		`form-data; name= =?UTF-8?Q?=5Fmethod?=`,
		"form-data; name=\r\n \"_method\"",
		"form-data; name\r\n\t= _method",
		"form-data; name =\r\n _method",
	} {
		if !postOverride(t, st, rec, ct, part(d)) {
			t.Errorf("part %q was forwarded", d)
		}
	}
	for _, d := range []string{
		`form-data; name="file"; filename*=UTF-8''_method.txt`,
		`form-data; name="a=b?"`,
		"form-data;\r\n name=\"note\"",
	} {
		if postOverride(t, st, rec, ct, part(d)) {
			t.Errorf("part %q was refused", d)
		}
	}
}

// Tomcat decodes an RFC 2047 encoded word in the multipart boundary
// parameter too: boundary="=?UTF-8?B?WHla?=" is XyZ to it, while PHP and
// Rack (and the scan) take the encoded word itself, which delimits no part
// of the body. Such a boundary is refused.
func TestMethodOverrideEncodedBoundaryRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	body := "--XyZ\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XyZ--\r\n"
	for _, ct := range []string{
		`multipart/form-data; boundary="=?UTF-8?B?WHla?="`,
		`multipart/form-data; boundary==?utf-8?q?XyZ?=`,
	} {
		if !postOverride(t, st, rec, ct, body) {
			t.Errorf("POST (%s) was forwarded", ct)
		}
	}
}

// Rack (Rails' Rack::MethodOverride) names a part by its Content-Disposition
// name with backslash escapes of a quoted value undone
// (name="\_method" is _method), or, without one, by its Content-ID header.
// Either naming _method is refused.
func TestMethodOverrideRackPartNamesRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const ct = "multipart/form-data; boundary=XyZ"
	part := func(headers string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n" +
			"--XyZ\r\n" + headers + "\r\n\r\nDELETE\r\n--XyZ--\r\n"
	}
	for _, h := range []string{
		`Content-Disposition: form-data; name="\_method"`,
		`Content-Disposition: form-data; name="_\m\e\t\h\o\d"`,
		`Content-Disposition: form-data; name="\_\M\E\T\H\O\D"`,
		"Content-ID: _method",
		"Content-Disposition: form-data\r\ncontent-id:\t_method",
		"Content-Disposition: form-data\r\nX-Content-ID:\r\n_method",
	} {
		if !postOverride(t, st, rec, ct, part(h)) {
			t.Errorf("part %q was forwarded", h)
		}
	}
	for _, h := range []string{
		`Content-Disposition: form-data; name="\_methods"`,
		`Content-Disposition: form-data; name="a\\_method"`,
		"Content-Disposition: form-data; name=\"b\"\r\nContent-ID: <_method@example>",
	} {
		if postOverride(t, st, rec, ct, part(h)) {
			t.Errorf("part %q was refused", h)
		}
	}
}

// Tomcat (commons-fileupload's ParameterParser) takes the boundary from
// the last parameter whose name, trimmed and in lower case, is
// "boundary", or "boundary*" (RFC 2231); PHP (the first "boundary") and
// Rack (the last "boundary=") can both read another one, which delimits
// no part of the body for the scan. A Content-Type whose boundary Tomcat
// reads differently is refused; one it reads alike is scanned.
func TestMethodOverrideTomcatBoundaryRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	body := "--AbC\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--AbC--\r\n"
	for _, ct := range []string{
		"multipart/form-data; boundary=XyZ; Boundary =AbC",
		"multipart/form-data; boundary=XyZ; boundary*=AbC",
		"multipart/form-data; boundary=XyZ;\tBOUNDARY\t= \"AbC\"",
		"multipart/form-data; boundary=utf; boundary*=utf-8''%41bC",
	} {
		if !postOverride(t, st, rec, ct, body) {
			t.Errorf("POST (%s) was forwarded", ct)
		}
	}
	ok := "--AbC\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--AbC--\r\n"
	for _, ct := range []string{
		"multipart/form-data; boundary=AbC",
		`multipart/form-data; boundary="AbC"; charset=utf-8`,
		"multipart/form-data; charset=utf-8; boundary=AbC",
	} {
		if postOverride(t, st, rec, ct, ok) {
			t.Errorf("POST (%s) was refused", ct)
		}
	}
}

// PHP (Laravel, Symfony) reads a part's name parameter quoted in single
// quotes as well as double ones (name='_method'), and ends an unquoted one
// at any blank isspace knows, vertical tab and form feed included. Both
// naming _method are refused.
func TestMethodOverridePHPPartNamesRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const ct = "multipart/form-data; boundary=XyZ"
	part := func(disposition string) string {
		return "--XyZ\r\nContent-Disposition: " + disposition + "\r\n\r\nDELETE\r\n--XyZ--\r\n"
	}
	for _, d := range []string{
		"form-data; name='_method'",
		"form-data; name=' .method'",
		"form-data; name=_method\v",
		"form-data; name=_method\f; x=1",
	} {
		if !postOverride(t, st, rec, ct, part(d)) {
			t.Errorf("part %q was forwarded", d)
		}
	}
	for _, d := range []string{"form-data; name='_methods'", "form-data; name=\"it's\""} {
		if postOverride(t, st, rec, ct, part(d)) {
			t.Errorf("part %q was refused", d)
		}
	}
}

// Rack 2 (Rails up to 7.0) takes a parameter's key as its first run of
// bytes other than brackets, dropping brackets before it and after it:
// "[_method]", "]]_method" and "_method]" are all "_method" to
// Rack::MethodOverride, in a form body or as a multipart part's name.
func TestMethodOverrideRackBracketsRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const form = "application/x-www-form-urlencoded"
	for _, c := range []struct{ ctype, body string }{
		{form, "a=1&[_method]=DELETE"},
		{form, "%5B%5D_method=DELETE"},
		{form, "_method]=DELETE"},
		{form, "[[_method]]=DELETE"},
		{"multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"[_method]\"\r\n\r\nDELETE\r\n--XyZ--\r\n"},
		{"multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"\\[\\[_method\\]\"\r\n\r\nDELETE\r\n--XyZ--\r\n"},
	} {
		if !postOverride(t, st, rec, c.ctype, c.body) {
			t.Errorf("POST (%s) %q was forwarded", c.ctype, c.body)
		}
	}
	for _, body := range []string{"a[_method]=1", "[method]=1", "_method]x=1", "[]=1"} {
		if postOverride(t, st, rec, form, body) {
			t.Errorf("POST %q was refused", body)
		}
	}
}
