package dataplane

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

func TestPublicRouteNeedsNoCredential(t *testing.T) {
	st := startStack(t, nil)
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 {
		t.Fatalf("public route: got %d, want 200", r.status)
	}
	if h := st.up.received()[0].headers; h["x-portcullis-tenant"] != "" {
		t.Errorf("public request carried identity %q", h["x-portcullis-tenant"])
	}
}

func TestPanicAnswers500AndKeepsServing(t *testing.T) {
	st := startStack(t, func(c *Config) {
		c.UpstreamDial = func(addr string) (net.Conn, error) { panic("dial exploded") }
	})
	r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 500 || r.errorBody(t).Error != "internal_error" {
		t.Fatalf("got %d %s, want 500 internal_error", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 500 {
		t.Fatalf("second request: got %d, want the server still answering", r.status)
	}
	if got := st.sink.last(t).Decision; got != audit.InternalError {
		t.Errorf("audit decision = %v", got)
	}
}

func TestNotReadyWithoutPolicy(t *testing.T) {
	up := startUpstream(t)
	srv, err := New(Config{Store: &policy.Store{}, Upstream: up.addr})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	if r := do(t, ln.Addr().String(), "GET", "/v1/status", nil, ""); r.status != 503 {
		t.Errorf("no policy: got %d, want 503", r.status)
	}
	admin := &Admin{Server: srv}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/readyz")
	admin.Handler(&ctx)
	if ctx.Response.StatusCode() != 503 {
		t.Errorf("readyz without policy = %d, want 503", ctx.Response.StatusCode())
	}
}

func TestHTTPClientEndToEnd(t *testing.T) {
	st := startStack(t, nil)
	req, _ := http.NewRequest("GET", "http://"+st.addr+"/v1/users/7", nil)
	req.Header.Set("Authorization", "Bearer "+hrisKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("got %d with request id %q", resp.StatusCode, resp.Header.Get("X-Request-ID"))
	}
}

// refusingSink is an audit sink that can capture nothing (spool full).
type refusingSink struct{ memSink }

func (*refusingSink) Accepting() bool { return false }

// Strict audit mode: a request whose record cannot be captured gets 503;
// best effort serves it.
func TestStrictAuditMode(t *testing.T) {
	sink := &refusingSink{}
	st := startStack(t, func(c *Config) { c.Audit = sink })
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("best effort: got %d, want 200", r.status)
	}
	doc := *loadExample(t).Doc
	doc.Audit.Mode = "strict"
	snap, err := policy.Compile(&doc, policy.Live{Revision: 9})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)
	for _, target := range []string{"/v1/users", "/v1/status"} {
		r := do(t, st.addr, "GET", target, key(hrisKey), "")
		if r.status != 503 || r.errorBody(t).Error != "audit_unavailable" {
			t.Errorf("strict %s: got %d %s, want 503 audit_unavailable", target, r.status, r.body)
		}
	}
	if n := len(st.up.received()); n != 1 {
		t.Errorf("upstream received %d requests, want only the best-effort one", n)
	}
}

// Requests on one keep-alive connection take turns on the connection's
// exchange: nothing of one request (identity, key, request id, route)
// carries into the next, whether it is allowed or denied.
func TestKeepAliveRequestsShareNothing(t *testing.T) {
	st := startStack(t, nil)
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(target, hdrs string) *http.Response {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: svc\r\n"+hdrs+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	steps := []struct {
		target, hdrs string
		status       int
		client, key  string
	}{
		{"/v1/users/1", "X-API-Key: " + hrisKey + "\r\nX-Request-ID: first\r\n", 200, "acme-hris", "acmehris1"},
		{"/v1/users/2", "", 401, "", ""},
		{"/v1/reports/3", "X-API-Key: " + globexKey + "\r\n", 200, "globex-bi", "globexbi1"},
		{"/v1/users/4", "X-API-Key: " + globexKey + "\r\n", 403, "globex-bi", "globexbi1"},
		{"/nope", "", 404, "", ""},
	}
	for i, s := range steps {
		resp := send(s.target, s.hdrs)
		rec := st.sink.last(t)
		if resp.StatusCode != s.status || rec.Client != s.client || string(rec.KeyID()) != s.key {
			t.Errorf("request %d: got %d, audit client %q key %q; want %d, %q, %q", i, resp.StatusCode, rec.Client, rec.KeyID(), s.status, s.client, s.key)
		}
		if id := resp.Header.Get("X-Request-ID"); i > 0 && (id == "first" || string(rec.RequestID()) != id) {
			t.Errorf("request %d: request id %q, audit %q: the first request's id carried over", i, id, rec.RequestID())
		}
	}
	got := st.up.received()
	if len(got) != 2 || got[1].headers["x-portcullis-client"] != "globex-bi" || got[1].headers["x-request-id"] == "first" {
		t.Errorf("upstream got %d requests, last %v", len(got), got[len(got)-1].headers)
	}
}

// panicSink is an audit sink whose Swap panics, as a nil sink did when the
// sidecar ran without an audit destination (issue 13, item 1).
type panicSink struct{ swaps atomic.Int64 }

func (p *panicSink) Swap(r *audit.Record) (*audit.Record, bool) {
	p.swaps.Add(1)
	panic("sink exploded")
}

func (p *panicSink) Accepting() bool { return true }

// A panic after the response is decided (in the audit sink, which runs
// after decide and forward) is a 500 and a count, never a dead process:
// fasthttp recovers nothing, so before the fix the test binary died here.
func TestPanicInRecordAnswers500AndKeepsServing(t *testing.T) {
	sink := &panicSink{}
	st := startStack(t, func(c *Config) { c.Audit = sink })
	for i, path := range []string{"/v1/status", "/v1/users", "/nope"} {
		r := do(t, st.addr, "GET", path, key(hrisKey), "")
		if r.status != 500 || r.errorBody(t).Error != "internal_error" {
			t.Errorf("request %d %s: got %d %s, want 500 internal_error", i, path, r.status, r.body)
		}
	}
	if got := sink.swaps.Load(); got != 3 {
		t.Errorf("sink saw %d records, want 3", got)
	}
	body := scrape(t, st.srv)
	for _, want := range []string{"portcullis_panics_total 3\n", "portcullis_audit_dropped_total 3\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The upstream was reached for the allowed requests: the panic came
	// after forwarding, and the next connection is still served.
	if c, err := net.Dial("tcp", st.addr); err != nil {
		t.Errorf("sidecar no longer accepts: %v", err)
	} else {
		c.Close()
	}
}

// swapPanicOnceSink is a memSink whose first Swap panics. A fake for a
// broken sink, as panicSink is.
type swapPanicOnceSink struct {
	memSink
	swaps atomic.Int64
}

func (p *swapPanicOnceSink) Swap(r *audit.Record) (*audit.Record, bool) {
	if p.swaps.Add(1) == 1 {
		panic("sink exploded once")
	}
	return p.memSink.Swap(r)
}

// A panic recording a request on a kept-alive connection readies the
// connection's exchange all the same: the next request on it carries
// nothing of the one whose record panicked (its API key above all) and
// is recorded as itself. The handler settles a request in its body, under
// finish's recover (end), which then readies the exchange (ready).
func TestRecordPanicReadiesTheConnectionsExchange(t *testing.T) {
	sink := &swapPanicOnceSink{}
	st := startStack(t, func(c *Config) { c.Audit = sink })
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(hdrs string) int {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /v1/users/1 HTTP/1.1\r\nHost: svc\r\n"+hdrs+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send("X-API-Key: " + hrisKey + "\r\nX-Request-ID: first\r\n"); got != 500 {
		t.Fatalf("request whose record panicked: %d, want 500", got)
	}
	if got := send("X-Request-ID: second\r\n"); got != 401 {
		t.Errorf("next request on the connection, without a credential: %d, want 401", got)
	}
	rec := sink.withRequestID(t, "second")
	if rec.Decision != audit.Unauthenticated || rec.Client != "" {
		t.Errorf("next request's record: decision %v, client %q; want unauthenticated, no client", rec.Decision, rec.Client)
	}
	if body := scrape(t, st.srv); !strings.Contains(body, "portcullis_panics_total 1\n") || !strings.Contains(body, "portcullis_audit_dropped_total 1\n") {
		t.Errorf("metrics: want one panic and one dropped record")
	}
}

// After a request, reset leaves every field of the exchange zero except
// the pooled buffers (emptied), limited (written before read), the
// exchange's block of request ids, its stream state (reused, set afresh
// for each streamed response) and the record's text arrays (read only up
// to their lengths).
func TestExchangeReset(t *testing.T) {
	m := newInmem(t, true)
	for range 20 { // allowed, then rate limited: every field gets set
		m.serve(t, request("GET", "/v1/users/42", hrisKey, "X-Request-ID: r-1"))
	}
	mono, wall := m.srv.clock.now()
	x := m.srv.beginAt(&m.ctx, mono, wall)
	if d := m.srv.decide(&m.ctx, x); d != audit.RateLimited {
		t.Fatalf("decision %v, want rate_limited", d)
	}
	m.srv.record(&m.ctx, x)
	x.reset()
	v := reflect.ValueOf(x).Elem()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch name {
		case "limited", "rec", "ids", "idsEnd", "conn", "fwdFor", "fwdLine", "body":
			continue
		case "path", "uri", "reqID", "buf", "delKey":
			if f.Len() != 0 {
				t.Errorf("%s has length %d after reset", name, f.Len())
			}
			continue
		case "undo", "out":
			// reset clears their fields one by one, keeping one slice's
			// array each: a field added to undo or wire is checked here too.
			emptied := map[string]string{"undo": "host", "out": "lines"}[name]
			for j := range f.NumField() {
				g, gname := f.Field(j), f.Type().Field(j).Name
				if gname == emptied && g.Len() != 0 || gname != emptied && !g.IsZero() {
					t.Errorf("%s.%s = %v after reset, want %s emptied and the rest zero", name, gname, g, emptied)
				}
			}
			continue
		}
		if !f.IsZero() {
			t.Errorf("%s = %v after reset, want zero", name, f)
		}
	}
	if got, want := string(x.rec.AppendJSON(nil)), string(new(audit.Record).AppendJSON(nil)); got != want {
		t.Errorf("record after reset encodes as %s, want %s", got, want)
	}
}

// beginAt is what the handler does before decide: begin, then arrived at
// mono (limiter clock) and wall (unix nanoseconds).
func (s *Server) beginAt(ctx *fasthttp.RequestCtx, mono, wall int64) *exchange {
	x := s.begin(ctx)
	s.arrived(x, mono, wall)
	return x
}
