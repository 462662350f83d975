package dataplane

import (
	"strings"
	"testing"
)

// TestHostileRequestLinesAndFramingRefused holds what an outside review
// (review53) sent and found refused, where no test held it yet: request
// lines a lenient service reads otherwise (a method in lower case, which
// a service routing without case takes for GET; the asterisk and
// authority forms; other separators than one space), control bytes in
// a header value (a bare CR splits the line for Python's email parser,
// http.server's), and request framing other parsers read differently:
// chunk sizes that are not hex digits alone, a signed Content-Length,
// chunked coding on HTTP/1.0 (RFC 9112 section 6.1: faulty). Each gets
// its status and reaches nothing.
func TestHostileRequestLinesAndFramingRefused(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	const key = "X-API-Key: " + hrisKey + "\r\n"
	chunked := func(body string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + key + "Transfer-Encoding: chunked\r\n\r\n" + body
	}
	for _, c := range []struct {
		name, req string
		status    int
	}{
		{"method in lower case", "get /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n", 404},
		{"method in mixed case", "Get /v1/users HTTP/1.1\r\nHost: svc\r\n" + key + "\r\n", 404},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: svc\r\n\r\n", 400},
		{"authority form", "CONNECT svc:80 HTTP/1.1\r\nHost: svc:80\r\n\r\n", 400},
		{"absolute form without Host", "GET http://svc/v1/status HTTP/1.1\r\n\r\n", 400},
		{"two spaces", "GET /v1/status  HTTP/1.1\r\nHost: svc\r\n\r\n", 400},
		{"tabs", "GET\t/v1/status\tHTTP/1.1\r\nHost: svc\r\n\r\n", 400},
		{"bare CR in a value", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + key + "X-A: a\rX-Portcullis-Tenant: globex\r\n\r\n", 400},
		{"NUL in a value", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + key + "X-A: a\x00b\r\n\r\n", 400},
		{"VT in a value", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + key + "X-A: a\vb\r\n\r\n", 400},
		{"ESC in a value", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + key + "X-A: a\x1b[2Jb\r\n\r\n", 400},
		{"DEL in a value", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + key + "X-A: a\x7fb\r\n\r\n", 400},
		{"chunk size 0x2", chunked("0x2\r\n{}\r\n0\r\n\r\n"), 400},
		{"chunk size then bytes", chunked("2garbage\r\n{}\r\n0\r\n\r\n"), 400},
		{"chunk size after a blank", chunked(" 2\r\n{}\r\n0\r\n\r\n"), 400},
		{"last chunk -0", chunked("2\r\n{}\r\n-0\r\n\r\n"), 400},
		{"chunk data ended by LF", chunked("2\r\n{}\n0\r\n\r\n"), 400},
		{"chunked on HTTP/1.0", "POST /v1/records HTTP/1.0\r\nHost: svc\r\n" + key + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400},
		{"Content-Length +2", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + key + "Content-Length: +2\r\n\r\n{}", 400},
		{"Content-Length list", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + key + "Content-Length: 2, 2\r\n\r\n{}", 400},
	} {
		n := len(up.received())
		r := raw(t, st.addr, c.req)
		if got := up.received()[n:]; r.status != c.status || len(got) != 0 {
			t.Errorf("%s: %d, the upstream got %d request(s); want %d and nothing forwarded", c.name, r.status, len(got), c.status)
			continue
		}
		if e := r.errorBody(t); !strings.Contains("bad_request no_route", e.Error) {
			t.Errorf("%s: error %q, want bad_request or no_route", c.name, e.Error)
		}
	}
}
