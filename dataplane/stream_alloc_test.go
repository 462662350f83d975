//go:build !race

package dataplane

import (
	"io"
	"net"
	"testing"
)

// A streamed response (here a small chunked one, which is always
// streamed) costs no allocation either: the stream state belongs to the
// exchange and fasthttp's stream comes from its pool.
func TestStreamedResponseAllocations(t *testing.T) {
	m := newInmem(t, false)
	chunked := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	m.srv.upstream.hc.Dial = func(string) (net.Conn, error) {
		return m.srv.wrapUpstream(&memConn{resp: chunked}), nil
	}
	raw := request("GET", "/v1/users/42", hrisKey)
	// serve, then write the body out as fasthttp's server does, which
	// closes the stream and so completes the exchange.
	serve := func() int {
		st := m.serve(t, raw)
		m.ctx.Response.BodyWriteTo(io.Discard)
		return st
	}
	for range 50 {
		serve()
	}
	m.srv.keys.Wait()
	if got := m.serve(t, raw); got != 200 {
		t.Fatalf("status %d, want 200", got)
	}
	if !m.ctx.Response.IsBodyStream() {
		t.Fatal("a chunked response was not streamed")
	}
	if allocs := testing.AllocsPerRun(200, func() { serve() }); allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}
