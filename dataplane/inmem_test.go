package dataplane

import (
	"bufio"
	"bytes"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// discard is a sink that copies the record like a real one and keeps nothing.
type discard struct{ last audit.Record }

func (d *discard) Emit(r *audit.Record) bool { d.last = *r; return true }
func (d *discard) Accepting() bool           { return true }

// inmem is a Server whose upstream is a real fasthttp server on an
// in-memory listener, driven without a network: for allocation guards and
// benchmarks of the whole handler.
type inmem struct {
	srv  *Server
	ctx  fasthttp.RequestCtx
	br   *bufio.Reader
	src  *bytes.Reader
	sink *discard
}

func newInmem(tb testing.TB, limits bool) *inmem {
	tb.Helper()
	ln := fasthttputil.NewInmemoryListener()
	up := &fasthttp.Server{Handler: upstream.Fixed(bytes.Repeat([]byte("x"), 1024))}
	go up.Serve(ln)
	tb.Cleanup(func() { ln.Close() })
	store := &policy.Store{}
	snap := loadExample(tb)
	if !limits {
		snap = withoutLimits(tb, snap)
	}
	store.Swap(snap)
	m := &inmem{sink: &discard{}}
	srv, err := New(Config{
		Store: store, Upstream: "inmem:80", Audit: m.sink,
		UpstreamDial: func(string) (net.Conn, error) { return ln.Dial() },
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	m.srv = srv
	m.src = bytes.NewReader(nil)
	m.br = bufio.NewReaderSize(m.src, 4096)
	m.ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return m
}

// withoutLimits raises every limit far above what a benchmark sends.
func withoutLimits(tb testing.TB, snap *policy.Snapshot) *policy.Snapshot {
	tb.Helper()
	doc := *snap.Doc
	big := &policy.LimitSpec{Rate: "1000000000/s", Burst: 1000000000}
	doc.Tenants = append([]policy.TenantSpec(nil), doc.Tenants...)
	for i := range doc.Tenants {
		doc.Tenants[i].Limit = big
	}
	doc.Clients = append([]policy.ClientSpec(nil), doc.Clients...)
	for i := range doc.Clients {
		doc.Clients[i].Limit = big
	}
	doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
	for i := range doc.Classes {
		doc.Classes[i].Limit = big
	}
	out, err := policy.Compile(&doc, policy.Live{Revision: snap.Revision})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// serve parses the raw request into the context and runs the handler once.
func (m *inmem) serve(tb testing.TB, raw []byte) int {
	m.ctx.Request.Reset()
	m.ctx.Response.Reset()
	m.src.Reset(raw)
	m.br.Reset(m.src)
	if err := m.ctx.Request.Read(m.br); err != nil {
		tb.Fatalf("cannot parse request: %v", err)
	}
	m.srv.Handler(&m.ctx)
	return m.ctx.Response.StatusCode()
}

func request(method, target, key string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: svc\r\nUser-Agent: bench/1.0\r\n")
	if key != "" {
		b.WriteString("X-API-Key: " + key + "\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// After a request, reset leaves every field of the exchange zero except
// the pooled buffers (emptied), takes and limited (written before read)
// and the record's text arrays (read only up to their lengths).
func TestExchangeReset(t *testing.T) {
	m := newInmem(t, true)
	for range 20 { // allowed, then rate limited: every field gets set
		m.serve(t, request("GET", "/v1/users/42", hrisKey, "X-Request-ID: r-1"))
	}
	x := m.srv.acquire()
	if d := m.srv.decide(&m.ctx, x); d != audit.RateLimited {
		t.Fatalf("decision %v, want rate_limited", d)
	}
	m.srv.record(&m.ctx, x)
	x.reset()
	v := reflect.ValueOf(x).Elem()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch name {
		case "takes", "limited", "rec":
			continue
		case "path", "uri", "reqID", "buf":
			if f.Len() != 0 {
				t.Errorf("%s has length %d after reset", name, f.Len())
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
