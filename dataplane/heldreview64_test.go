package dataplane

import (
	"strings"
	"testing"
	"time"
)

// TestWireHeldReview64 holds what an outside review (review64) sent over
// a real socket and found held, where no test held it yet: the target
// the service gets for an absolute-form request and for escapes a
// service decodes into delimiters (';', '?', '#': forwarded as sent,
// never decoded, so the service splits the path where the route did);
// the hop-by-hop headers of an h2c upgrade and Proxy-Authorization
// (never forwarded); chunk extensions (the body goes on with a length,
// no extension); framing fields named as trailers and a doubled or
// quoted chunked coding (400); and a pipelined HTTP/1.0 keep-alive
// request without a credential (decided on its own, 401).
func TestWireHeldReview64(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	const key = "X-API-Key: " + hrisKey + "\r\n"
	get := func(target, extra string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: svc\r\n" + key + extra + "Connection: close\r\n\r\n"
	}
	chunked := func(te, body string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + key + "Transfer-Encoding: " + te + "\r\nConnection: close\r\n\r\n" + body
	}
	for _, c := range []struct {
		name, req string
		uri       string // the upstream's target; "" for refused
		status    int
	}{
		{"absolute form", get("http://svc/v1/users", ""), "/v1/users", 200},
		{"absolute form https", get("https://svc/v1/users", ""), "/v1/users", 200},
		{"absolute form, another port", get("http://svc:80/v1/users", ""), "", 400},
		{"escaped ;", get("/v1/users/a%3Bb=1", ""), "/v1/users/a%3Bb=1", 200},
		{"escaped ?", get("/v1/users/a%3Fb", ""), "/v1/users/a%3Fb", 200},
		{"escaped #", get("/v1/users/a%23b", ""), "/v1/users/a%23b", 200},
		{"escaped blank and UTF-8", get("/v1/users/%20%E2%82%AC", ""), "/v1/users/%20%E2%82%AC", 200},
		{"leading empty lines", "\r\n\r\n" + get("/v1/users", ""), "/v1/users", 200},
		{"chunk extensions", chunked("chunked", "4;a=b;c=\"d\"\r\nabcd\r\n0;x\r\n\r\n"), "/v1/records", 200},
		{"framing fields as trailers", chunked("chunked", "4\r\nabcd\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: x\r\nHost: evil\r\n\r\n"), "", 400},
		{"chunked twice", chunked("chunked, chunked", "0\r\n\r\n"), "", 400},
		{"chunked quoted", chunked(`"chunked"`, "0\r\n\r\n"), "", 400},
	} {
		n := len(up.received())
		r := raw(t, st.addr, c.req)
		got := up.received()[n:]
		switch {
		case r.status != c.status:
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		case c.uri == "" && len(got) != 0:
			t.Errorf("%s: refused, but the upstream got %d request(s)", c.name, len(got))
		case c.uri != "" && (len(got) != 1 || got[0].uri != c.uri):
			t.Errorf("%s: the upstream got %d request(s) %+v; want one for %s", c.name, len(got), got, c.uri)
		case c.name == "chunk extensions" && (string(got[0].body) != "abcd" || got[0].header.Get("Content-Length") != "4"):
			t.Errorf("chunk extensions: the upstream got body %q, Content-Length %q; want abcd, 4", got[0].body, got[0].header.Get("Content-Length"))
		}
	}

	n := len(up.received())
	r := raw(t, st.addr, get("/v1/users", "Proxy-Authorization: Basic YTpi\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n"))
	if got := up.only(t, n); r.status != 200 || len(got.values("proxy-authorization"))+len(got.values("upgrade"))+len(got.values("http2-settings")) != 0 {
		t.Errorf("h2c upgrade with Proxy-Authorization: %d, the upstream got %v; want 200 and none of those headers", r.status, got.header)
	}

	// HTTP/1.0 keep-alive: the second request, pipelined without a key,
	// is decided on its own.
	n = len(up.received())
	out := rawAll(t, st.addr, "GET /v1/users HTTP/1.0\r\nHost: svc\r\n"+key+"Connection: keep-alive\r\n\r\n"+
		"GET /v1/users HTTP/1.0\r\nHost: svc\r\n\r\n", 10*time.Second) // the second ends the connection
	if len(up.received()) != n+1 || !strings.Contains(out, " 200 ") || !strings.Contains(out, " 401 ") {
		t.Errorf("pipelined HTTP/1.0 keep-alive requests, the second without a key: the upstream got %d, the client %q; want 1, then 200 and 401",
			len(up.received())-n, out)
	}
}
