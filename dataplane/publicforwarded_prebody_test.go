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

// Finding (read96): prePublic (now preDecide) ran the header checks that need no caller
// but not the forwarded headers' (headSource), which preAuthenticated (now preDecide)
// runs: behind a trusted proxy, a public upload whose forwarded headers
// the handler refuses got its 100 Continue and had its body read, up to
// its class's limit, before the 400; a chunked one past preBodyFree got
// 413 body_too_large, its headers gone.

// TestPublicRouteRefusedForwardedHeadersBeforeBody sends, over a real
// socket from a trusted proxy's address, public uploads with forwarded
// headers the handler refuses (X-Forwarded-For and Forwarded both): the
// first answer is 400 bad_request, audited, nothing forwarded; the same
// upload with one forwarded header gets its 100 and is served.
func TestPublicRouteRefusedForwardedHeadersBeforeBody(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.TrustedProxies = []string{"127.0.0.9/32"}
		d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...), policy.RouteSpec{Method: "POST", Path: "/v1/signup", Class: "standard", Public: true})
	})
	const head = "POST /v1/signup HTTP/1.1\r\nHost: svc\r\nX-Forwarded-For: 198.51.100.7\r\n"
	const bad = head + "Forwarded: for=198.51.100.7\r\n"
	for _, c := range []struct{ name, request string }{
		{"Expect: 100-continue", bad + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"},
		{"1 MB declared, head only", bad + "Content-Length: 1000000\r\n\r\n"},
		{"chunked, 20 KiB sent", bad + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
	} {
		n := len(rec.received())
		r := proxiedFirstAnswer(t, st.addr, c.request, "")
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s: first answer %d %q, the upstream got %d request(s); want 400 before the body, nothing forwarded", c.name, r.status, r.body, len(got))
			continue
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
			t.Errorf("%s: audited %v, want bad_request", c.name, rr.Decision)
		}
	}
	if r := proxiedFirstAnswer(t, st.addr, head+"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", "{}"); r.status != 200 {
		t.Errorf("a public upload with one forwarded header, Expect: 100-continue: %d %q, want 100 then 200", r.status, r.body)
	}
}

// proxiedFirstAnswer is firstAnswer from 127.0.0.9, a trusted proxy's
// address in these tests.
func proxiedFirstAnswer(t *testing.T, addr, request, body string) reply {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the first answer to %q: %v", request, err)
	}
	if resp.StatusCode == 100 && body != "" {
		io.WriteString(c, body)
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatalf("reading the answer after 100 to %q: %v", request, err)
		}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// Finding (read96): preAuthenticated (now preDecide) refused a head scanHeaders refuses
// (a '_' in a field name) without marking its connection (headRefused),
// as prePublic and its other refusals do: a chunked body past
// preBodyFree came to errorHandler with its headers gone and was answered
// 413 body_too_large, the same request 400 with a small body.

// TestChunkedBodyBehindMalformedHeadIs400 sends a verified caller's
// chunked upload of 20 KiB with a field name the one pass refuses, over a
// real socket: 400 bad_request, audited, nothing forwarded.
func TestChunkedBodyBehindMalformedHeadIs400(t *testing.T) {
	st, rec := startRecorded(t, nil)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nX_Forwarded_For: 198.51.100.7\r\n"
	for _, c := range []struct{ name, request string }{
		{"chunked, 20 KiB sent", head + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
		{"Expect: 100-continue", head + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"},
	} {
		n := len(rec.received())
		r := firstAnswer(t, st.addr, c.request, "")
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s: first answer %d %q, the upstream got %d request(s); want 400, nothing forwarded", c.name, r.status, r.body, len(got))
			continue
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
			t.Errorf("%s: audited %v, want bad_request", c.name, rr.Decision)
		}
	}
}
