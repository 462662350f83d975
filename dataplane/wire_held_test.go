package dataplane

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestWireHeld holds what an outside attack sent
// over a real socket and found held, where no test held it yet: an
// HTTP/1.0 request without Host goes on with the upstream's address as
// its Host and the connection's end (the service never takes a Host the
// client did not send); a Transfer-Encoding of "Chunked" and a
// Content-Length with leading zeros go on as the same body, framed by a
// Content-Length of its own and no Transfer-Encoding; a fragment in the
// path or the query is refused (a service that cuts the target at '#'
// would route what the sidecar never saw).
func TestWireHeld(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	keyLine := "X-API-Key: " + hrisKey + "\r\n"
	for _, c := range []struct {
		name, req string
		status    int
		uri, host string // the upstream's target and Host; uri "" for refused
		body      string
	}{
		{"HTTP/1.0 without Host", "GET /v1/status HTTP/1.0\r\nUser-Agent: a\r\n\r\n", 200, "/v1/status", up.addr, ""},
		{"Transfer-Encoding Chunked", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + keyLine +
			"Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 200, "/v1/records", "svc", "{}"},
		{"Content-Length 02", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + keyLine +
			"Content-Length: 02\r\nConnection: close\r\n\r\n{}", 200, "/v1/records", "svc", "{}"},
		{"fragment in the path", "GET /v1/users#/../admin HTTP/1.1\r\nHost: svc\r\n" + keyLine + "Connection: close\r\n\r\n", 400, "", "", ""},
		{"fragment in the query", "GET /v1/users?a=1#x HTTP/1.1\r\nHost: svc\r\n" + keyLine + "Connection: close\r\n\r\n", 400, "", "", ""},
	} {
		n := len(up.received())
		r := raw(t, st.addr, c.req)
		got := up.received()[n:]
		switch {
		case r.status != c.status:
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		case c.uri == "" && len(got) != 0:
			t.Errorf("%s: refused, but the upstream got %d request(s)", c.name, len(got))
		case c.uri == "":
		case len(got) != 1:
			t.Errorf("%s: the upstream got %d requests, want 1", c.name, len(got))
		case got[0].uri != c.uri || got[0].host != c.host || string(got[0].body) != c.body:
			t.Errorf("%s: the upstream got %s Host %q body %q, want %s Host %q body %q",
				c.name, got[0].uri, got[0].host, got[0].body, c.uri, c.host, c.body)
		case len(got[0].values("transfer-encoding")) != 0:
			t.Errorf("%s: the upstream got Transfer-Encoding %q", c.name, got[0].values("transfer-encoding"))
		}
	}
}

// TestInterimResponseHeadersNotForwarded sends a request whose service
// answers 103 Early Hints, with a cookie and an identity header, before
// its 200: the client gets the 200 alone, without a line of the interim
// answer (the sidecar skips 1xx answers, RFC 9110 section 15.2, and
// reads the final head afresh).
func TestInterimResponseHeadersNotForwarded(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	up.respond = func(w io.Writer, _ *http.Request) {
		io.WriteString(w, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nSet-Cookie: sid=interim\r\n"+
			"X-Portcullis-Tenant: globex\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
	r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 200 || r.body != "ok" {
		t.Fatalf("got %d %q, want 200 ok", r.status, r.body)
	}
	for _, name := range []string{"Link", "Set-Cookie", "X-Portcullis-Tenant"} {
		if v := r.header.Values(name); len(v) != 0 {
			t.Errorf("the client got the interim answer's %s: %q", name, strings.Join(v, ", "))
		}
	}
}
