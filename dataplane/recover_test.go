package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

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

// scrape returns the admin /metrics page of srv.
func scrape(t testing.TB, srv *Server) string {
	t.Helper()
	admin := &Admin{Server: srv}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	admin.Handler(&ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("/metrics answered %d", ctx.Response.StatusCode())
	}
	return string(ctx.Response.Body())
}

// A request fasthttp cannot parse is answered by the error handler, which
// records it too: a panic there is also a 500, not a dead process.
func TestPanicInErrorHandlerRecord(t *testing.T) {
	sink := &panicSink{}
	st := startStack(t, func(c *Config) { c.Audit = sink })
	huge := "GET /v1/status HTTP/1.1\r\nHost: svc\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"
	if r := raw(t, st.addr, huge); r.status != 500 {
		t.Errorf("oversized header with a panicking sink: %d %s, want 500", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 500 {
		t.Errorf("next request: %d, want the server still answering", r.status)
	}
	if got := sink.swaps.Load(); got != 2 {
		t.Errorf("sink saw %d records, want 2", got)
	}
}

// The admin listener recovers too: a check or metrics source that panics
// answers 500.
func TestAdminPanicAnswers500(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, Checks: []Check{{Name: "boom", State: func() (bool, string) { panic("check exploded") }}}}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/readyz")
	admin.Handler(&ctx)
	if got := ctx.Response.StatusCode(); got != 500 {
		t.Errorf("/readyz with a panicking check = %d, want 500", got)
	}
	if !strings.Contains(scrape(t, st.srv), "portcullis_panics_total 1\n") {
		t.Error("the admin panic is not counted")
	}
}

// /readyz says why it is not ready, one line per check.
func TestReadyzDetail(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, Checks: []Check{{Name: "extra", State: func() (bool, string) { return true, "fine" }}}}
	readyz := func() (int, string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/readyz")
		admin.Handler(&ctx)
		return ctx.Response.StatusCode(), string(ctx.Response.Body())
	}
	code, body := readyz()
	if code != 200 || !strings.HasPrefix(body, "ready\npolicy: ok, revision 1") || !strings.Contains(body, "\nextra: ok, fine\n") {
		t.Errorf("/readyz = %d %q", code, body)
	}
	st.srv.Drain()
	code, body = readyz()
	if code != 503 || !strings.HasPrefix(body, "not ready\n") || !strings.Contains(body, "serving: FAIL, draining") {
		t.Errorf("/readyz while draining = %d %q", code, body)
	}
	// Draining does not refuse requests: endpoints are still catching up.
	// A kept-alive client is told to reconnect, so it leaves this pod.
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("keep-alive request while draining: %d, close %v; want 200 and Connection: close", resp.StatusCode, resp.Close)
	}
}
