package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (review88): the check before the body (prebody.go) ran the
// credential's verification only, so a verified client's request with a
// tenant header naming another tenant had its body read (up to its
// class's limit, 1 MiB on /v1/records) and got its 100 Continue before
// the 400. A tenant header is now checked with the credential there.

// TestTenantHeaderRefusedBeforeBody sends, over a real socket, an acme
// key's uploads to /v1/records carrying a tenant header that names
// globex (a built-in name, and one of tenant_headers): with Expect:
// 100-continue the first answer is the 400, not 100; with a declared
// body of 1 MB only the head is sent and the 400 comes; a chunked body
// gets its 400 after at most preBodyFree of it. Each is audited
// bad_request and nothing reaches the upstream. The caller's own tenant
// still gets 100 and is served.
func TestTenantHeaderRefusedBeforeBody(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TenantHeaders = []string{"X-Org-Id"} })
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	first := func(request string, body string) reply {
		t.Helper()
		return firstAnswer(t, st.addr, request, body)
	}
	for _, tenant := range []string{"X-Tenant: globex\r\n", "X-Org-Id: globex\r\n"} {
		for _, c := range []struct{ name, request string }{
			{"Expect: 100-continue", head + tenant + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"},
			{"1 MB declared, head only", head + tenant + "Content-Length: 1000000\r\n\r\n"},
			{"chunked, 20 KiB sent", head + tenant + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
		} {
			n := len(rec.received())
			r := first(c.request, "")
			if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
				t.Errorf("%s with %q: first answer %d %q, the upstream got %d request(s); want 400 before the body, nothing forwarded", c.name, tenant, r.status, r.body, len(got))
				continue
			}
			if e := r.errorBody(t); e.Error != "bad_request" {
				t.Errorf("%s with %q: error %q, want bad_request", c.name, tenant, e.Error)
			}
			if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
				t.Errorf("%s with %q: audited %v, want bad_request", c.name, tenant, rr.Decision)
			}
		}
	}
	if r := first(head+"X-Org-Id: acme\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", "{}"); r.status != 200 {
		t.Errorf("the caller's own tenant with Expect: 100-continue: %d %q, want 100 then 200", r.status, r.body)
	}
}

// Finding (read95): on a public route the check before the body looked at
// nothing, so a request carrying a header of refuse_headers, or any tenant
// header (a public route has no caller whose tenant it could name), got
// its 100 Continue and had its body read, up to its class's limit, before
// the 400. Such heads are refused before the body there too.
func TestPublicRouteRefusedHeaderBeforeBody(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.TenantHeaders, d.RefuseHeaders = []string{"X-Org-Id"}, []string{"X-Auth-Token"}
		d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...), policy.RouteSpec{Method: "POST", Path: "/v1/signup", Class: "standard", Public: true})
	})
	const head = "POST /v1/signup HTTP/1.1\r\nHost: svc\r\n"
	for _, bad := range []string{"X-Tenant: acme\r\n", "X-Org-Id: acme\r\n", "X-Auth-Token: sess0123456789\r\n"} {
		for _, c := range []struct{ name, request string }{
			{"Expect: 100-continue", head + bad + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"},
			{"1 MB declared, head only", head + bad + "Content-Length: 1000000\r\n\r\n"},
			{"chunked, 20 KiB sent", head + bad + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
		} {
			n := len(rec.received())
			r := firstAnswer(t, st.addr, c.request, "")
			if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
				t.Errorf("%s with %q: first answer %d %q, the upstream got %d request(s); want 400 before the body, nothing forwarded", c.name, bad, r.status, r.body, len(got))
				continue
			}
			if e := r.errorBody(t); e.Error != "bad_request" {
				t.Errorf("%s with %q: error %q, want bad_request", c.name, bad, e.Error)
			}
			if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
				t.Errorf("%s with %q: audited %v, want bad_request", c.name, bad, rr.Decision)
			}
		}
	}
	if r := firstAnswer(t, st.addr, head+"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", "{}"); r.status != 200 {
		t.Errorf("a public upload without such a header, Expect: 100-continue: %d %q, want 100 then 200", r.status, r.body)
	}
}

// firstAnswer sends request over a new connection to addr and reads the
// first answer; after a 100 Continue it sends body and reads the next.
func firstAnswer(t *testing.T, addr, request, body string) reply {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return firstAnswerOn(t, c, request, body)
}

// firstAnswerOn is firstAnswer on the connection c, which it closes (a
// TLS one: TestMTLSTenantRefusedBeforeBody).
func firstAnswerOn(t *testing.T, c net.Conn, request, body string) reply {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// A request refused before its body may fail to be written whole:
	// the sidecar closes the connection after its answer, and a chunked
	// body's bytes past what it read reset it (over TLS, a record
	// written after that). The answer came first, and is read.
	_, werr := io.WriteString(c, request)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the first answer to %.120q: %v (writing it: %v)", request, err, werr)
	}
	if resp.StatusCode == 100 && body != "" {
		io.WriteString(c, body)
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
