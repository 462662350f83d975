//go:build !race

package load

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serveCanned answers every request on every connection with a fixed
// response, reading into one buffer: a target that allocates nothing per
// request, so an allocation count over a send is the generator's own.
func serveCanned(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf, n := make([]byte, 4096), 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if end < 0 {
							break
						}
						n = copy(buf, buf[end+4:n])
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// The fixed-rate worker's send path (send, count, record latency and lag)
// allocates nothing per request: the generator's allocations would bring
// collections, and a collection during the window is schedule lag. Not
// under the race detector, which allocates.
func TestConstantSendAllocatesNothing(t *testing.T) {
	c := Config{Addr: serveCanned(t), Path: "/x", Header: map[string]string{"X-API-Key": "k"}, Conns: 1}
	cl := c.client()
	defer cl.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	c.fill(req)
	w := sender{cl: cl, req: req, resp: resp, h: newHistogram(), lag: newHistogram(), n: &counters{}}
	due := time.Now()
	w.send(due, false) // the connection is dialled once
	if got := testing.AllocsPerRun(1000, func() { w.send(due, false) }); got != 0 {
		t.Errorf("%v allocations per send, want 0", got)
	}
	if w.n.ok.Load() < 1001 {
		t.Errorf("%d answered, want every send answered", w.n.ok.Load())
	}
}
