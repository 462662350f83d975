//go:build linux

package dataplane

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// Finding (review50): a request refused with its upstream connection in
// hand (recheck.go, sendable) gave the connection back to the pool
// unused, and a connection dialed for it went back marked as never used:
// the next request to take it wrote itself on it without the check every
// pooled connection gets (send: bytes waiting, or closed by the service).
// Servers answer a connection that never sent a request, once it sat
// idle past their header timeout, with "408 Request Timeout" and close
// it (Node, Apache); that 408 was read as the next request's answer,
// given to another client, where the connection is found stale, closed,
// and a new one dialed. Here the upstream does so at once on the
// connection the refused export was sent its dial for.
func TestRefusedRequestsConnectionCheckedBeforeReuse(t *testing.T) {
	idle := make(chan struct{})   // closed: the first connection gets its 408
	closed := make(chan struct{}) // the first connection's 408 is written and it is closed
	ok := func(*http.Request) []byte { return []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
	ln := acceptEach(t, func(n int, c net.Conn) {
		if n > 0 {
			serveRaw(c, ok)
			return
		}
		<-idle
		io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 7\r\n\r\ntimeout")
		c.Close()
		close(closed)
	})
	dialing, gate := make(chan struct{}, 1), make(chan struct{})
	var first sync.Once
	st := startStack(t, func(c *Config) {
		c.Upstream, c.MaxUpstreamConn = ln.Addr().String(), 1
		c.UpstreamDial = func(addr string) (net.Conn, error) {
			first.Do(func() {
				dialing <- struct{}{}
				<-gate // the export waits for its connection
			})
			return fasthttp.Dial(addr)
		}
	})
	st.store.Swap(withoutLimits(t, loadExample(t)))
	exported := make(chan reply, 1)
	go func() { exported <- do(t, st.addr, "POST", "/v1/exports", key(adminKey), "{}") }()
	select {
	case <-dialing:
	case <-time.After(10 * time.Second):
		t.Fatal("the export never dialed the upstream")
	}
	prev := st.store.Load()
	next, err := policy.Amend(prev, policy.Live{Revision: prev.Revision + 1, Suspended: map[string]struct{}{"acme-admin": {}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(next)
	close(gate)
	if r := <-exported; r.status != 403 {
		t.Fatalf("export of a client suspended while it dialed: %d %q, want 403", r.status, r.body)
	}
	close(idle)
	<-closed
	time.Sleep(20 * time.Millisecond) // the 408 and the FIN are in the sidecar's socket
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 || r.body != "ok" {
		t.Fatalf("the next request, on the connection the refused export left: %d %q, want 200 ok (the service's 408 to a connection that sent nothing is no answer to it)", r.status, r.body)
	}
	if got := st.srv.upstream.stale.Load(); got != 1 {
		t.Errorf("%d pooled connections found stale, want 1: the refused export's", got)
	}
}
