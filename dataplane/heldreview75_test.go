package dataplane

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestWireHeldReview75 holds what an outside review (review75) sent over
// a real socket and found held, where no test held it yet: pipelined
// requests of two tenants, each answered in order and audited under its
// own client and request id; an HTTP/1.0 keep-alive pipeline whose middle
// request names another tenant; Expect: 100-continue with the body and a
// next request sent without waiting; CONNECT and OPTIONS * (400); a
// request line past the header limit (431, the JSON error shape,
// audited); 2,500 small header lines under it (served); trailers naming
// Content-Type, Content-Encoding or Cookie (400); a tenant segment with a
// trailing dot, escaped or not (403) and escaped letters of the caller's
// own (served, forwarded decoded); the tenant parameter twice, after
// "&amp;" and in other spellings (400); %u escapes and a lone '%' in the
// path (400); a NEL byte or U+2028 in a header value (forwarded, no line
// of its own); a WebSocket upgrade (forwarded without Upgrade, and a
// 101 from the service is a 502).
func TestWireHeldReview75(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	key := func(k string) string { return "X-API-Key: " + k + "\r\n" }
	get := func(target, extra string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: svc\r\n" + key(hrisKey) + extra + "Connection: close\r\n\r\n"
	}
	chunkedWith := func(trailer string) string {
		return "POST /v1/tenants/acme/records HTTP/1.1\r\nHost: svc\r\n" + key(hrisKey) + "Content-Type: text/plain\r\n" +
			"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nx\r\n0\r\n" + trailer + "\r\n"
	}
	var headers strings.Builder
	for headers.Len() < 15000 {
		headers.WriteString("a: b\r\n")
	}
	for _, c := range []struct {
		name, req string
		uri       string // the upstream's target; "" for refused
		status    int
	}{
		{"CONNECT", "CONNECT svc:80 HTTP/1.1\r\nHost: svc:80\r\n" + key(hrisKey) + "\r\n", "", 400},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: svc\r\n" + key(hrisKey) + "\r\n", "", 400},
		{"request line past the limit", get("/v1/users?"+strings.Repeat("a", 20000), ""), "", 431},
		{"2,500 header lines", get("/v1/users", headers.String()), "/v1/users", 200},
		{"Content-Type trailer", chunkedWith("Content-Type: application/x-www-form-urlencoded\r\n"), "", 400},
		{"Content-Encoding trailer", chunkedWith("Content-Encoding: gzip\r\n"), "", 400},
		{"Cookie trailer", chunkedWith("Cookie: __tenant=globex\r\n"), "", 400},
		{"tenant with a trailing dot", get("/v1/tenants/acme./users", ""), "", 403},
		{"tenant with an escaped trailing dot", get("/v1/tenants/acme%2e/users", ""), "", 403},
		{"tenant's letters escaped", get("/v1/tenants/%61cme/users", ""), "/v1/tenants/acme/users", 200},
		{"tenant twice", get("/v1/tenants/acme/users?tenant=acme&tenant=globex", ""), "", 400},
		{"tenant after &amp;", get("/v1/tenants/acme/users?x=1&amp;tenant=globex", ""), "", 400},
		{"tenant[] escaped", get("/v1/tenants/acme/users?tenant%5b%5d=globex", ""), "", 400},
		{"a[tenant]", get("/v1/tenants/acme/users?a[tenant]=globex", ""), "", 400},
		{"tenant.", get("/v1/tenants/acme/users?tenant.=globex", ""), "", 400},
		{"TENANT and NUL", get("/v1/tenants/acme/users?TENANT%00x=globex", ""), "", 400},
		{"%u escapes in the path", get("/v1/users/%u002e%u002e%u2215admin", ""), "", 400},
		{"a lone % in the path", get("/v1/users/a%", ""), "", 400},
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
		case c.status == 431 && r.errorBody(t).Error != "header_too_large":
			t.Errorf("%s: error %q, want header_too_large", c.name, r.errorBody(t).Error)
		}
	}

	// A NEL byte or U+2028 in a header value is obs-text, forwarded; the
	// identity header behind it is the sidecar's alone.
	for _, sep := range []string{"\x85", "\u2028"} {
		n := len(up.received())
		r := raw(t, st.addr, get("/v1/users", "X-Note: a"+sep+"X-Portcullis-Tenant: globex\r\n"))
		if got := up.only(t, n); r.status != 200 || len(got.values("x-portcullis-tenant")) != 1 || got.values("x-portcullis-tenant")[0] != "acme" {
			t.Errorf("%q in a header value before a forged tenant: %d, the upstream got X-Portcullis-Tenant %q; want 200 and [acme]",
				sep, r.status, got.values("x-portcullis-tenant"))
		}
	}

	// Pipelined, two tenants: answered in order, each audited as itself.
	out := rawAll(t, st.addr, "GET /v1/tenants/acme/users HTTP/1.1\r\nHost: svc\r\n"+key(hrisKey)+"\r\n"+
		"GET /v1/tenants/globex/users HTTP/1.1\r\nHost: svc\r\n"+key(hrisKey)+"\r\n"+
		"GET /v1/reports/1 HTTP/1.1\r\nHost: svc\r\n"+key(globexKey)+"Connection: close\r\n\r\n", 10*time.Second)
	want := []struct {
		status int
		client string
		d      audit.Decision
	}{{200, "acme-hris", audit.Allowed}, {403, "acme-hris", audit.TenantMismatch}, {200, "globex-bi", audit.Allowed}}
	ids := responseIDs(out)
	if len(ids) != len(want) {
		t.Fatalf("pipelined requests of two tenants: %d answers in %q, want 3", len(ids), out)
	}
	for i, w := range want {
		rec := st.sink.withRequestID(t, ids[i].id)
		if ids[i].status != w.status || rec.Client != w.client || rec.Decision != w.d {
			t.Errorf("pipelined seenAnswer %d: %d, audited %s %v; want %d, %s %v", i, ids[i].status, rec.Client, rec.Decision, w.status, w.client, w.d)
		}
	}

	// HTTP/1.0 keep-alive, the middle request naming globex.
	n := len(up.received())
	out = rawAll(t, st.addr, "GET /v1/users HTTP/1.0\r\nHost: svc\r\n"+key(hrisKey)+"Connection: keep-alive\r\n\r\n"+
		"GET /v1/tenants/globex/users HTTP/1.0\r\nHost: svc\r\n"+key(hrisKey)+"Connection: keep-alive\r\n\r\n"+
		"GET /v1/users HTTP/1.0\r\nHost: svc\r\n"+key(hrisKey)+"\r\n", 10*time.Second)
	if got := responseIDs(out); len(got) != 3 || got[0].status != 200 || got[1].status != 403 || got[2].status != 200 || len(up.received()) != n+2 {
		t.Errorf("HTTP/1.0 keep-alive pipeline: answers %+v, the upstream got %d; want 200, 403, 200 and 2", got, len(up.received())-n)
	}

	// Expect: 100-continue, the body and a next request sent at once.
	n = len(up.received())
	out = rawAll(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\n"+key(hrisKey)+"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"+
		get("/v1/users", ""), 10*time.Second)
	if got := up.received()[n:]; !strings.HasPrefix(out, "HTTP/1.1 100 Continue\r\n\r\n") || strings.Count(out, " 200 OK") != 2 ||
		len(got) != 2 || string(got[0].body) != "hello" || got[1].uri != "/v1/users" {
		t.Errorf("Expect with the body and a next request at once: the client got %q, the upstream %d requests; want 100, 200, 200 and both", out, len(got))
	}

	// A WebSocket upgrade goes on as a plain GET; a 101 is the service's
	// error, never a tunnel.
	n = len(up.received())
	ws := "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	r := raw(t, st.addr, strings.Replace(get("/v1/users", ws), "Connection: close", "Connection: Upgrade", 1))
	if got := up.only(t, n); r.status != 200 || len(got.values("upgrade")) != 0 {
		t.Errorf("WebSocket upgrade: %d, the upstream got Upgrade %q; want 200 and none", r.status, got.values("upgrade"))
	}
	up.respond = func(w io.Writer, _ *http.Request) {
		io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello")
	}
	if r := raw(t, st.addr, get("/v1/users", ws)); r.status != 502 {
		t.Errorf("a 101 from the service: %d %s, want 502", r.status, r.body)
	}
}

// seenAnswer is the status and request id of one response in a stream.
type seenAnswer struct {
	status int
	id     string
}

// responseIDs lists the status and X-Request-Id of each response in out,
// in order (100 Continue skipped).
func responseIDs(out string) []seenAnswer {
	var as []seenAnswer
	for _, part := range strings.Split(out, "HTTP/1.1 ")[1:] {
		st, _ := strconv.Atoi(part[:3])
		if st == 100 {
			continue
		}
		a := seenAnswer{status: st}
		if i := strings.Index(part, "X-Request-Id: "); i >= 0 {
			a.id = part[i+len("X-Request-Id: "):]
			a.id = a.id[:strings.Index(a.id, "\r\n")]
		}
		as = append(as, a)
	}
	return as
}
