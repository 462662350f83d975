//go:build linux && !race

package dataplane

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// A request over a pooled TCP upstream connection (sendWait: the check,
// the write and the wait in one pass, the request encoded in a pooled
// buffer) allocates nothing, the upstream's own work included.
func TestPooledSendAllocations(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1024)
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go up.Serve(ln)
	t.Cleanup(func() { up.Shutdown() })

	m := newInmem(t, false)
	sends := 0 // connections dialled: one, reused, so every request after the first takes the pooled path
	m.srv.upstream.hc.Dial = func(string) (net.Conn, error) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		sends++
		return m.srv.wrapUpstream(c), nil
	}
	raw := request("GET", "/v1/users/42", hrisKey)
	for range 50 {
		if st := m.serve(t, raw); st != 200 {
			t.Fatalf("status %d, want 200", st)
		}
	}
	m.srv.keys.Wait()
	if sends != 1 {
		t.Fatalf("%d upstream connections dialled for requests in turn, want 1 (reused)", sends)
	}
	if allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) }); allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}
