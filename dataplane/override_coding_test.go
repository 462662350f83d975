package dataplane

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// postCoded sends a POST with the given Content-Type, extra header lines
// (each ending in CRLF) and body, and says whether it was refused with 400
// bad_request without reaching the upstream (true) or forwarded byte for
// byte with 200 (false).
func postCoded(t *testing.T, st *stack, rec *recorder, ctype, lines, body string) bool {
	t.Helper()
	n := len(rec.received())
	r := raw(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nContent-Type: "+ctype+
		"\r\n"+lines+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	got := rec.received()[n:]
	switch {
	case r.status == 400 && r.errorBody(t).Error == "bad_request" && len(got) == 0:
		if d := st.sink.last(t).Decision; d != audit.BadRequest {
			t.Errorf("POST (%s) %q refused, audited %v, want bad_request", ctype, lines, d)
		}
		return true
	case r.status == 200 && len(got) == 1:
		if string(got[0].body) != body {
			t.Errorf("POST (%s) %q: the upstream got another body", ctype, lines)
		}
		return false
	}
	t.Fatalf("POST (%s) %q: %d %s, reached the upstream %d times", ctype, lines, r.status, r.body, len(got))
	return false
}

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func deflated(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A form, multipart or JSON body in a content coding hides its names
// from the override scan, which reads the coded bytes, while a service
// that decodes request bodies first (Express's body-parser by default,
// Apache's mod_deflate input filter in front of PHP, ASP.NET Core's
// request decompression, Jetty's GzipHandler) reads "_method=DELETE" and
// serves the POST the sidecar checked as a DELETE. Such a body is
// refused; one of another type, or with Content-Encoding identity, goes
// on as it came.
func TestMethodOverrideCodedBodyRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const form = "application/x-www-form-urlencoded"
	multipart := "--XyZ\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XyZ--\r\n"
	for _, c := range []struct{ ctype, lines, body string }{
		{form, "Content-Encoding: gzip\r\n", gzipped(t, "a=1&_method=DELETE")},
		{form + "; charset=utf-8", "content-encoding: GZIP\r\n", gzipped(t, "_method=DELETE")},
		{form, "Content-Encoding: deflate\r\n", deflated(t, "_method=DELETE")},
		{form, "Content-Encoding: identity\r\nContent-Encoding: gzip\r\n", gzipped(t, "_method=DELETE")},
		{form, "Content-Encoding: identity, gzip\r\n", gzipped(t, "_method=DELETE")},
		{"multipart/form-data; boundary=XyZ", "Content-Encoding: gzip\r\n", gzipped(t, multipart)},
		{"application/json", "Content-Encoding: gzip\r\n", gzipped(t, `{"_method":"DELETE"}`)},
		{"application/vnd.api+json", "Content-Encoding: br\r\n", "\x0b\x09\x80" + `{"_method":"DELETE"}` + "\x03"},
		{"", "Content-Encoding: gzip\r\n", gzipped(t, "_method=DELETE")}, // no type: Rack reads a form
	} {
		if !postCoded(t, st, rec, c.ctype, c.lines, c.body) {
			t.Errorf("POST (%s) with %q was forwarded", c.ctype, c.lines)
		}
	}
	for _, c := range []struct{ ctype, lines, body string }{
		{form, "Content-Encoding: identity\r\n", "a=1&b=2"},
		{form, "Content-Encoding:  IDENTITY \r\n", "a=1"},
		{"application/octet-stream", "Content-Encoding: gzip\r\n", gzipped(t, "_method=DELETE")},
		{"application/x-protobuf", "Content-Encoding: gzip\r\n", gzipped(t, "\x0a\x03abc")},
		{"application/json", "", `{"a":1}`},
	} {
		if postCoded(t, st, rec, c.ctype, c.lines, c.body) {
			t.Errorf("POST (%s) with %q was refused", c.ctype, c.lines)
		}
	}
}
