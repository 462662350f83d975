package dataplane

// Findings of an outside review of the data plane over loopback TCP (raw
// bytes written with net.Dial, the upstream a real socket): each test
// failed on the code it was written against.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// A Connection list naming a prefix of a protected field ("h" of "host"),
// or a header name shorter than "connection" beside a Connection header,
// made foldEqual index past the name's end: any client, unauthenticated,
// got a 500, an ERROR line and a panic counted per request. Now such a
// request is decided like any other, and "hostile" (which only begins
// with "host") is no longer refused as if it named Host.
func TestConnectionListShortNamesNoPanic(t *testing.T) {
	st, _ := startRecorded(t, nil)
	for _, c := range []struct {
		req    string
		status int
	}{
		{"GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: h\r\n\r\n", 200},
		{"GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: content-l\r\n\r\n", 200},
		{"GET /v1/status HTTP/1.1\r\nHost: svc\r\nCo: 1\r\nConnection: keep-alive\r\n\r\n", 200},
		{"GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: x-req\r\n\r\n", 200},
		{"GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: hostile\r\n\r\n", 200},
		{"GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: host\r\n\r\n", 400},
		{"GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: X-Portcullis-Tenant\r\n\r\n", 400},
	} {
		before := st.srv.metrics.panics.Load()
		r := raw(t, st.addr, c.req)
		if n := st.srv.metrics.panics.Load() - before; n != 0 || r.status != c.status {
			t.Errorf("%q: status %d, %d panics; want %d and none", c.req, r.status, n, c.status)
		}
		if rec := st.sink.last(t); rec.Decision == audit.InternalError {
			t.Errorf("%q: audited as %s", c.req, rec.Decision)
		}
	}
}

// TestFoldEqualLengths: names of another length are never equal, and a
// prefix is compared only where the name is long enough.
func TestFoldEqualLengths(t *testing.T) {
	for _, c := range []struct {
		name, want string
		eq, prefix bool
	}{
		{"Host", "host", true, true},
		{"h", "host", false, false},
		{"", "host", false, false},
		{"Hostile", "host", false, true},
		{"X-Forwarded-Proto", "x-forwarded-", false, true},
		{"X-Forwarded", "x-forwarded-", false, false},
	} {
		if got := foldEqual([]byte(c.name), c.want); got != c.eq {
			t.Errorf("foldEqual(%q, %q) = %v", c.name, c.want, got)
		}
		if got := foldPrefix([]byte(c.name), c.want); got != c.prefix {
			t.Errorf("foldPrefix(%q, %q) = %v", c.name, c.want, got)
		}
	}
}

// Removing forged X-Portcullis-* and X-Forwarded-* headers cost a pass
// over the header map per line, so a 15 KiB block of ~850 such lines
// (no credential needed, on a public route) was quadratic CPU. A request
// may now carry at most maxStrippedHeaders of them (400 beyond, in the
// JSON error shape), and the ones it carries are removed by one pass per
// distinct name.
func TestForgedHeaderLinesBounded(t *testing.T) {
	st, up := startRecorded(t, nil)
	req := func(n int) string {
		var b strings.Builder
		b.WriteString("GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n")
		for i := range n {
			if i%2 == 0 {
				fmt.Fprintf(&b, "X-Portcullis-%x: forged\r\n", i)
			} else {
				fmt.Fprintf(&b, "X-Forwarded-%x: forged\r\n", i)
			}
		}
		return b.String() + "\r\n"
	}
	if r := raw(t, st.addr, req(maxStrippedHeaders)); r.status != 200 {
		t.Fatalf("%d forged lines: status %d %q, want 200", maxStrippedHeaders, r.status, r.body)
	}
	got := up.only(t, 0)
	if names := got.internal(); len(names) != 0 {
		t.Errorf("the upstream got forged identity headers %q", names)
	}
	for k := range got.header {
		if strings.HasPrefix(strings.ToLower(k), "x-forwarded-") && !strings.EqualFold(k, "X-Forwarded-For") {
			t.Errorf("the upstream got forged %s", k)
		}
	}
	r := raw(t, st.addr, req(maxStrippedHeaders+1))
	if r.status != 400 {
		t.Fatalf("%d forged lines: status %d, want 400", maxStrippedHeaders+1, r.status)
	}
	r.errorBody(t)
	if n := len(up.received()); n != 1 {
		t.Errorf("the refused request reached the upstream (%d requests)", n)
	}
}

// TestDelMatchingOnePassPerName: a chunked request's trailer section is
// not bounded by maxStrippedHeaders (its distinct names are, by
// trailersOK), so many lines of one forged name must cost one pass.
func TestDelMatchingOnePassPerName(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET /v1/status HTTP/1.1\r\nHost: svc\r\nX-Portcullis-B: 1\r\n")
	for range 500 {
		b.WriteString("X-Portcullis-A: forged\r\n")
	}
	b.WriteString("X-Portcullis-C: 1\r\nX-Other: kept\r\n\r\n")
	var req fasthttp.Request
	if err := req.Read(bufio.NewReaderSize(strings.NewReader(b.String()), 1<<16)); err != nil {
		t.Fatal(err)
	}
	if passes := delMatching(&req.Header, &exchange{}, internalName); passes != 3 {
		t.Errorf("%d passes over the header map for 3 distinct names", passes)
	}
	for k := range req.Header.All() {
		if internalName(k) {
			t.Errorf("%s left", k)
		}
	}
	if string(req.Header.Peek("X-Other")) != "kept" {
		t.Errorf("X-Other removed")
	}
}

// "Expect: 100-continue" was forwarded although the sidecar answers the
// expectation itself (prebody.go) and sends the body right behind the head.
func TestExpectNotForwarded(t *testing.T) {
	st, up := startRecorded(t, nil)
	resp := rawAll(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+
		"\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 3*time.Second)
	if !strings.HasPrefix(resp, "HTTP/1.1 100 Continue\r\n\r\n") || !strings.Contains(resp, "upstream ok") {
		t.Fatalf("response %q: want the sidecar's 100, then the upstream's answer", resp)
	}
	if got := up.only(t, 0).values("expect"); len(got) > 0 {
		t.Errorf("the service got Expect %q after the sidecar answered 100 itself and sent the body", got)
	}
}

// TestExpectCannotMisrouteResponses is the harm the forwarded Expect did:
// a service that refuses a body from its head (fasthttp's documented
// ContinueHandler: 417, its read buffer dropped, the connection kept) read
// the rest of one tenant's body as a next request and answered it, on the
// pooled connection, to whichever client's request went next: globex got
// answers that were not theirs while an acme client sent such bodies.
func TestExpectCannotMisrouteResponses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetBodyString("tenant=" + string(ctx.Request.Header.Peek("X-Portcullis-Tenant")))
		},
		ContinueHandler: func(h *fasthttp.RequestHeader) bool { return string(h.ContentType()) == "application/json" },
	}
	go svc.Serve(ln)
	t.Cleanup(func() { svc.Shutdown() })
	// No per-tenant cap (TenantMaxInFlight above the pool): the requests
	// queue at the pool, as this test needs.
	st := startStack(t, func(c *Config) { c.Upstream, c.MaxUpstreamConn, c.TenantMaxInFlight = ln.Addr().String(), 1, 1<<20 })
	st.store.Swap(withoutLimits(t, loadExample(t)))

	// CRLFs (skipped before a request line) past the service's 4 KiB read
	// buffer, which its ContinueHandler path drops, then a request.
	body := strings.Repeat("\r\n", 2100) + "GET /v1/admin/settings HTTP/1.1\r\nHost: svc\r\n\r\n"
	attack := fmt.Sprintf("POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\nContent-Type: text/plain\r\n"+
		"Expect: 100-continue\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", hrisKey, len(body), body)

	const rounds = 150
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range rounds {
			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, attack)
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	var mu sync.Mutex
	wrong, first := 0, ""
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if r := do(t, st.addr, "GET", "/v1/reports/1", key(globexKey), ""); r.body != "tenant=globex" {
					mu.Lock()
					if wrong++; wrong == 1 {
						first = fmt.Sprintf("%d %q", r.status, r.body)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if wrong > 0 {
		t.Fatalf("%d of %d globex requests got an answer that was not theirs (first: %s) while an acme client sent Expect: 100-continue bodies", wrong, 4*rounds, first)
	}
}

// fasthttp added "Content-Type: application/octet-stream" to a forwarded
// body that came without one.
func TestNoContentTypeAdded(t *testing.T) {
	st, up := startRecorded(t, nil)
	if r := do(t, st.addr, "POST", "/v1/records", key(hrisKey), "{}"); r.status != 200 {
		t.Fatalf("status %d %q", r.status, r.body)
	}
	if got := up.only(t, 0).values("content-type"); len(got) > 0 {
		t.Errorf("the service got Content-Type %q that the client never sent", got)
	}
}

// The request line's version went to the upstream as the client wrote it
// ("HTTP/9.9"): the sidecar now takes only HTTP/1.1 and HTTP/1.0.
func TestOnlyHTTP1Versions(t *testing.T) {
	st, up := startRecorded(t, nil)
	for _, v := range []string{"HTTP/9.9", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9"} {
		r := raw(t, st.addr, "GET /v1/status "+v+"\r\nHost: svc\r\nConnection: close\r\n\r\n")
		if r.status != 400 {
			t.Errorf("%s: status %d, want 400", v, r.status)
			continue
		}
		r.errorBody(t)
	}
	if n := len(up.received()); n != 0 {
		t.Fatalf("%d requests of another version reached the upstream", n)
	}
	for _, v := range []string{"HTTP/1.1", "HTTP/1.0"} {
		if r := raw(t, st.addr, "GET /v1/status "+v+"\r\nHost: svc\r\nConnection: close\r\n\r\n"); r.status != 200 {
			t.Errorf("%s: status %d, want 200", v, r.status)
		}
	}
}

// rawAll writes request on a new connection and returns everything the
// sidecar writes back until it closes or wait passes.
func rawAll(t testing.TB, addr, request string, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	io.WriteString(c, request)
	b, _ := io.ReadAll(c)
	return string(b)
}
