package dataplane

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Outside review of rate limits, concurrency caps and resource exhaustion
// (the "limits" angle). Each test failed on the code it was written
// against.

// Finding: a streamed response to an HTTP/1.0 client hijacks the
// connection (stream10.go), and fasthttp flushes the responses it still
// holds for earlier pipelined requests before it runs the hijack handler.
// When that flush fails (the client reset the connection while the
// upstream was answering), fasthttp gives up on the connection without
// running the handler and without resetting the response: the stream's
// Close never ran, so the class's concurrency slot, the upstream
// connection and the audit record were lost. A client of a tenant pipelining
// "GET /nope HTTP/1.1" and "POST /v1/exports HTTP/1.0", then resetting,
// twice took both of acme's bulk slots for the life of the process (acme
// could export nothing any more), and on a public route each try leaked
// one of the --max-upstream-conns connections, unauthenticated.
func TestPipelinedHijackFailureReleasesSlot(t *testing.T) {
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	closed := make(chan struct{}, 4)
	up := startStreamUpstream(t, func(c net.Conn) error {
		arrived <- struct{}{}
		<-release
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		// Hold the body open: only the sidecar's Close of the upstream
		// connection ends it.
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, rerr := c.Read(make([]byte, 1)); rerr != nil {
			closed <- struct{}{}
		}
		return err
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	snap := st.store.Load()
	var bulk int
	for _, c := range snap.Classes {
		if c.Name == "bulk" {
			bulk = c.Index
		}
	}
	slot := snap.Tenants["acme"].ClassKey[bulk]

	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /nope HTTP/1.1\r\nHost: svc\r\n\r\n"+
		"POST /v1/exports HTTP/1.0\r\nHost: svc\r\nX-API-Key: %s\r\nContent-Length: 0\r\n\r\n", adminKey)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the export never reached the upstream")
	}
	if n := st.srv.inflight.InFlight(slot); n != 1 {
		t.Fatalf("acme's bulk slots in flight while the export is at the upstream: %d, want 1", n)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close() // a reset: the 404 the sidecar holds cannot be flushed
	close(release)

	// The slot, the upstream connection and the audit record must come
	// back; on the code before they never did.
	deadline := time.Now().Add(10 * time.Second)
	for st.srv.inflight.InFlight(slot) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("acme's bulk concurrency slot is still held after the client went away: the tenant loses it for the life of the process")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection of the abandoned export was never closed")
	}
	found := false
	for range 500 {
		st.sink.mu.Lock()
		for _, r := range st.sink.recs {
			if string(r.Path()) == "/v1/exports" && r.Decision == audit.Allowed {
				found = true
			}
		}
		st.sink.mu.Unlock()
		if found {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !found {
		t.Error("no audit record of the abandoned export")
	}
}
