package dataplane

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// discard is a sink that takes each record as a real one does (Swap hands
// it over and gets the one before back) and keeps only the last.
type discard struct{ last *audit.Record }

func (d *discard) Swap(r *audit.Record) (*audit.Record, bool) {
	spare := d.last
	if spare == nil {
		spare = new(audit.Record)
	}
	d.last = r
	return spare, true
}
func (d *discard) Accepting() bool { return true }

// inmem is a Server driven without a network, for allocation guards and
// benchmarks of the whole handler. Its upstream is a memConn answering
// 1 KiB, or with pipe a real fasthttp server on an in-memory listener.
type inmem struct {
	srv  *Server
	ctx  fasthttp.RequestCtx
	br   *bufio.Reader
	src  *bytes.Reader
	sink *discard
}

func newInmem(tb testing.TB, limits bool) *inmem { return newInmemWith(tb, limits, false) }

func newInmemWith(tb testing.TB, limits, pipe bool) *inmem {
	tb.Helper()
	body := bytes.Repeat([]byte("x"), 1024)
	dial := func(string) (net.Conn, error) { return newMemConn(body), nil }
	if pipe {
		ln := fasthttputil.NewInmemoryListener()
		up := &fasthttp.Server{Handler: upstream.Fixed(body)}
		go up.Serve(ln)
		tb.Cleanup(func() { ln.Close() })
		dial = func(string) (net.Conn, error) { return ln.Dial() }
	}
	store := &policy.Store{}
	snap := loadExample(tb)
	if !limits {
		snap = withoutLimits(tb, snap)
	}
	store.Swap(snap)
	m := &inmem{sink: &discard{}}
	srv, err := New(Config{Store: store, Upstream: "inmem:80", Audit: m.sink, UpstreamDial: dial})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	m.srv = srv
	m.src = bytes.NewReader(nil)
	m.br = bufio.NewReaderSize(m.src, 4096)
	// The context is served over a connection as Serve accepts them, so
	// its requests take turns on the connection's exchange.
	m.ctx.Init2(newConn(newMemConn(nil)), nil, false)
	return m
}

// memConn is an upstream connection that answers in the caller's
// goroutine: each request written to it queues one 200 response with the
// fixed body, which the following reads return. It knows a request is
// complete when what was written ends a header block, so it serves only
// requests without a body, which is all the guards and benchmarks send. It has none of the goroutine hand-offs
// of a pipe, so a benchmark through it measures the sidecar's own work:
// parsing, deciding, writing the upstream request, parsing the upstream
// response and recording.
type memConn struct {
	in, out []byte
	off     int // read position in out
	resp    []byte
}

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}

func newMemConn(body []byte) *memConn {
	var r fasthttp.Response
	r.Header.SetContentType("text/plain")
	r.SetBody(body)
	return &memConn{resp: []byte(r.String())}
}

func (c *memConn) Write(p []byte) (int, error) {
	c.in = append(c.in, p...)
	if bytes.HasSuffix(c.in, []byte("\r\n\r\n")) {
		c.in = c.in[:0]
		c.out = append(c.out, c.resp...)
	}
	return len(p), nil
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.off == len(c.out) {
		return 0, io.EOF
	}
	n := copy(p, c.out[c.off:])
	if c.off += n; c.off == len(c.out) {
		c.out, c.off = c.out[:0], 0
	}
	return n, nil
}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

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
