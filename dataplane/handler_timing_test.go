package dataplane

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// BenchmarkDecide is the decision without I/O: route, key, scopes, limits
// and the audit record.
func BenchmarkDecide(b *testing.B) {
	benchDecide(b, request("GET", "/v1/users/42", hrisKey))
}

// benchDecide runs benchDecideOn on a sidecar without limits.
func benchDecide(b *testing.B, raw []byte) {
	benchDecideOn(b, newInmem(b, false), raw)
}

// benchDecideOn runs decide and settle (the audit record) on raw, parsed once, after a first
// request has warmed the caches of m. The arrival time is the handler's
// input (fasthttp reads it for every request before calling the handler,
// see Server.arrival), so each request of the loop arrives when the one
// before ended, by the clock read record makes for the duration.
func benchDecideOn(b *testing.B, m *inmem, raw []byte) {
	m.serve(b, raw)
	m.srv.keys.Wait()
	if v := m.srv.prepared.Load().verifier; v != nil {
		v.WaitCache()
	}
	m.src.Reset(raw)
	m.br.Reset(m.src)
	if err := m.ctx.Request.Read(m.br); err != nil {
		b.Fatal(err)
	}
	mono, wall := m.srv.clock.now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		x := m.srv.beginAt(&m.ctx, mono, wall)
		if d := m.srv.decide(&m.ctx, x); d != audit.Allowed {
			b.Fatalf("decision %v", d)
		}
		m.srv.end(&m.ctx, x) // frees the slots decide took, records, readies x, as the handler does
		mono, wall = mono+m.sink.last.Duration, wall+m.sink.last.Duration
	}
}

// BenchmarkHandler is a whole request through the handler to an in-memory
// upstream answering 1 KiB in the same goroutine (memConn): request parse,
// decision, upstream request written and response parsed, audit record.
func BenchmarkHandler(b *testing.B) { benchHandler(b, false) }

// BenchmarkHandlerPipe is BenchmarkHandler with a real fasthttp upstream
// server behind an in-memory pipe: it adds that server's work and two
// goroutine hand-offs per request, which are not the sidecar's cost.
func BenchmarkHandlerPipe(b *testing.B) { benchHandler(b, true) }

func benchHandler(b *testing.B, pipe bool) {
	m := newInmemWith(b, false, pipe)
	raw := request("GET", "/v1/users/42", hrisKey)
	m.serve(b, raw)
	m.srv.keys.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if m.serve(b, raw) != 200 {
			b.Fatal("not 200")
		}
	}
}

// BenchmarkDecideJWT is BenchmarkDecide with a cached JWT instead of an API
// key: the goal is within 1.5x of BenchmarkDecide in the same run.
func BenchmarkDecideJWT(b *testing.B) {
	benchDecide(b, request("GET", "/v1/users/42", "", "Authorization: Bearer "+mint(b, demoClaims("acme-hris", "acme", "read:users"))))
}

// BenchmarkBareProxy is BenchmarkHandler's request through the bench
// harness's bare proxy (bench/harness, runBareProxy: hop-by-hop headers
// deleted, HostClient.Do) to the same in-memory upstream, on a context
// parsed the same way: the floor the sidecar's per-request cost is
// compared with (issue 18; docs/performance.md, "Beyond the bare proxy").
func BenchmarkBareProxy(b *testing.B) {
	m := newInmem(b, false)
	body := bytes.Repeat([]byte("x"), 1024)
	hc := &fasthttp.HostClient{
		Addr:                          "inmem:80",
		Dial:                          func(string) (net.Conn, error) { return newMemConn(body), nil },
		MaxConns:                      1024,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		MaxIdleConnDuration:           60 * time.Second,
		MaxResponseBodySize:           64 << 20,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		RetryIfErr:                    func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	serve := func(raw []byte) int {
		m.ctx.Request.Reset()
		m.ctx.Response.Reset()
		m.src.Reset(raw)
		m.br.Reset(m.src)
		if err := m.ctx.Request.Read(m.br); err != nil {
			b.Fatalf("cannot parse request: %v", err)
		}
		for _, h := range hopByHop {
			m.ctx.Request.Header.Del(h)
		}
		if err := hc.Do(&m.ctx.Request, &m.ctx.Response); err != nil {
			b.Fatal(err)
		}
		for _, h := range hopByHop {
			m.ctx.Response.Header.Del(h)
		}
		return m.ctx.Response.StatusCode()
	}
	raw := request("GET", "/v1/users/42", hrisKey)
	serve(raw)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if serve(raw) != 200 {
			b.Fatal("not 200")
		}
	}
}
