package dataplane

import (
	"strconv"
	"testing"
	"unicode/utf16"
)

// Express's JSON parser (body-parser) decodes a body in the charset its
// Content-Type names, any UTF ("utf-16le" too), and drops a leading
// byte order mark (iconv-lite), as .NET's System.Text.Json skips one. The
// JSON scan read the bytes as UTF-8 and took a body that did not start
// with '{' for no object: a BOM before {"access_token":...}, or the
// members in UTF-16, reached passport-http-bearer (req.body.access_token)
// and method-override's body getter past it (review53). A BOM is skipped
// now, and a JSON body in a charset other than ASCII's supersets
// (foreignCharset) is refused: RFC 8259 section 8.1 says UTF-8.
func TestJSONBodyBOMAndCharsetScanned(t *testing.T) {
	t.Parallel()
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	post := func(ctype, body string) reply {
		t.Helper()
		return raw(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nContent-Type: "+ctype+
			"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	}
	utf16le := func(s string) string {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return string(b)
	}
	const bom = "\xef\xbb\xbf"
	for _, c := range []struct {
		name, ctype, body string
		refused           bool
	}{
		{"BOM, access_token", "application/json", bom + `{"access_token":"x.y.z"}`, true},
		{"BOM, _method", "application/json", bom + ` {"_method":"DELETE"}`, true},
		{"UTF-16LE, _method", "application/json; charset=utf-16le", "\xff\xfe" + utf16le(`{"_method":"DELETE"}`), true},
		{"UTF-16LE, harmless", "application/json; charset=UTF-16LE", utf16le(`{"a":1}`), true}, // unreadable to the scan
		{"UTF-32", "application/json;charset=utf-32", "{}", true},
		{"BOM, harmless", "application/json", bom + `{"a":1}`, false},
		{"UTF-8 named", "application/json; charset=UTF-8", `{"a":1}`, false},
		{"Latin-1 named", "application/json; charset=iso-8859-1", `{"a":1}`, false},
	} {
		n := len(rec.received())
		r := post(c.ctype, c.body)
		reached := len(rec.received()) - n
		switch {
		case c.refused && (r.status != 400 || reached != 0):
			t.Errorf("%s: %d, reached the upstream %d times; want 400 and nothing forwarded", c.name, r.status, reached)
		case !c.refused && (r.status != 200 || reached != 1):
			t.Errorf("%s: %d %s, reached the upstream %d times; want 200, forwarded", c.name, r.status, r.body, reached)
		}
	}
}

// Finding (review64): a JSON body in UTF-16 or UTF-32 was refused only
// when its Content-Type named the charset. MVC 5's JSON value provider
// reads the body through a StreamReader, which takes a UTF-16 or UTF-32
// byte order mark for the encoding whatever the header says (as Web API
// 2's formatter does), and binds what it reads before the route's data:
// FF FE and {"tenant":"globex"} in UTF-16LE, typed application/json,
// went on past the scan, which read NUL bytes between the letters.

// TestJSONBodyWideBOMRefused sends such bodies, untyped by charset, over
// a real socket: each is refused 400 and nothing reaches the upstream.
func TestJSONBodyWideBOMRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	utf16 := func(s string, be bool) string {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			if be {
				b = append(b, byte(u>>8), byte(u))
			} else {
				b = append(b, byte(u), byte(u>>8))
			}
		}
		return string(b)
	}
	for _, c := range []struct{ name, body string }{
		{"UTF-16LE BOM", "\xff\xfe" + utf16(`{"tenant":"globex"}`, false)},
		{"UTF-16BE BOM", "\xfe\xff" + utf16(`{"tenant":"globex"}`, true)},
		{"UTF-32LE BOM", "\xff\xfe\x00\x00{\x00\x00\x00}\x00\x00\x00"},
		{"UTF-32BE BOM", "\x00\x00\xfe\xff\x00\x00\x00{\x00\x00\x00}"},
	} {
		n := len(rec.received())
		r := raw(t, st.addr, "POST /v1/tenants/acme/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+
			"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(c.body))+"\r\nConnection: close\r\n\r\n"+c.body)
		if reached := len(rec.received()) - n; r.status != 400 || reached != 0 {
			t.Errorf("%s: %d, reached the upstream %d times; want 400 and nothing forwarded", c.name, r.status, reached)
		}
	}
}
