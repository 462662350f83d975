package dataplane

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

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
