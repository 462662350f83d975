package dataplane

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// busyUpstream is a real upstream on loopback that keeps a connection busy
// without ever stalling it: a request for /v1/users/... or /v1/exports gets a chunked
// response whose chunks trickle every 50 ms until release is closed, so
// the sidecar's upstream timeout (a bound on a stall) never ends it and
// the connection stays out of the pool; any other request is answered at
// once.
type busyUpstream struct {
	addr    string
	release chan struct{}
	held    chan struct{} // one send per request being trickled
	open    func()        // closes release, once
}

func startBusyUpstream(t *testing.T) *busyUpstream {
	t.Helper()
	u := &busyUpstream{release: make(chan struct{}), held: make(chan struct{}, 64)}
	u.open = sync.OnceFunc(func() { close(u.release) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	t.Cleanup(func() {
		u.open()
		ln.Close()
		mu.Lock()
		for _, c := range conns { // the sidecar's pooled connections, idle
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { u.serve(c) })
		}
	})
	return u
}

// serve answers the requests of one connection, one after the other.
func (u *busyUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.Body.Close()
		if !strings.HasPrefix(req.URL.Path, "/v1/users/") && req.URL.Path != "/v1/exports" {
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nupstream ok")); err != nil {
				return
			}
			continue
		}
		if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")); err != nil {
			return
		}
		u.held <- struct{}{}
		tick := time.NewTicker(50 * time.Millisecond)
	trickle:
		for {
			select {
			case <-u.release:
				break trickle
			case <-tick.C:
				if _, err := c.Write([]byte("1\r\nx\r\n")); err != nil {
					tick.Stop()
					return
				}
			}
		}
		tick.Stop()
		if _, err := c.Write([]byte("0\r\n\r\n")); err != nil {
			return
		}
	}
}

// waitHeld waits for n requests to be held at u, or fails.
func (u *busyUpstream) waitHeld(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-u.held:
		case <-timeout:
			t.Fatalf("fewer than %d requests reached the upstream", n)
		}
	}
}

// heldOrAnswered waits until n requests are held at u or answered on
// answered, and returns how many were held and the answers (refused
// before the upstream), or fails.
func (u *busyUpstream) heldOrAnswered(t *testing.T, answered <-chan reply, n int) (int, []reply) {
	t.Helper()
	var refused []reply
	held := 0
	timeout := time.After(10 * time.Second)
	for held+len(refused) < n {
		select {
		case <-u.held:
			held++
		case r := <-answered:
			refused = append(refused, r)
		case <-timeout:
			t.Fatalf("%d of %d requests held or answered", held+len(refused), n)
		}
	}
	return held, refused
}

// A request that waited the whole pool wait for an upstream connection,
// every one of them busy with a response still coming, is answered 503
// upstream_saturated with Retry-After and the JSON error shape, audited
// with that decision and counted in portcullis_upstream_saturated_total.
// It was 502 upstream_error, as if the service had failed: fasthttp's
// HostClient returns ErrNoFreeConns when MaxConnWaitTimeout passes
// (client.go, AcquireConn), and the service was only busy.
func TestSaturatedUpstreamPoolIs503(t *testing.T) {
	u := startBusyUpstream(t)
	st := startStack(t, func(c *Config) {
		c.Upstream, c.MaxUpstreamConn, c.UpstreamTimeout = u.addr, 1, time.Second
	})
	st.store.Swap(withoutLimits(t, loadExample(t)))

	var wg sync.WaitGroup
	var first reply
	wg.Go(func() { first = do(t, st.addr, "GET", "/v1/users/1", key(hrisKey), "") })
	u.waitHeld(t, 1)
	// Another tenant, so that no per-tenant cap refuses it before the pool.
	r := do(t, st.addr, "GET", "/v1/reports/1", key(globexKey), "")
	rec := st.sink.last(t)
	u.open()
	wg.Wait()

	if r.status != 503 {
		t.Fatalf("request behind a busy pool: %d %q, want 503", r.status, r.body)
	}
	if got := r.errorBody(t).Error; got != "upstream_saturated" {
		t.Errorf("error %q, want upstream_saturated", got)
	}
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if rec.Decision != audit.UpstreamSaturated {
		t.Errorf("audited decision %v, want upstream_saturated", rec.Decision)
	}
	if first.status != 200 {
		t.Errorf("request that held the connection: %d, want 200", first.status)
	}
	if m := scrape(t, st.srv); !strings.Contains(m, "portcullis_upstream_saturated_total 1\n") {
		t.Errorf("/metrics lacks portcullis_upstream_saturated_total 1")
	}
}
