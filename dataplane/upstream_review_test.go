//go:build linux

package dataplane

import (
	"bufio"
	"bytes"
	"github.com/valyala/fasthttp"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A request of more than one 4 KiB buffer (a POST body) does not go
// through sendWait but through the pool's own check (upConn.pending) and
// the writer: an upstream that leaves a whole smuggled response after some
// answers shares one pooled connection with large requests, whose answers
// must never be the smuggled one (written by an outside review, as are the
// tests below).
func TestLargeRequestStrayNeverDelivered(t *testing.T) {
	var n atomic.Uint64
	up := startRawUpstream(t, func(r *http.Request) []byte {
		if r.Header.Get("X-Bad") != "" {
			return []byte(misbehaviours[n.Add(1)%uint64(len(misbehaviours))])
		}
		return []byte("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nacme-ok")
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.MaxUpstreamConn = up, 1 })
	st.store.Swap(withoutLimits(t, loadExample(t)))
	big := strings.Repeat("z", 8<<10) // two 4 KiB buffers: the old path
	for i := range 60 {
		bad := map[string]string{"X-API-Key": adminKey, "X-Bad": "1"}
		do(t, st.addr, "POST", "/v1/exports", bad, "{}")
		time.Sleep(2 * time.Millisecond) // the smuggled bytes are in the socket
		r := do(t, st.addr, "POST", "/v1/exports", key(adminKey), big)
		if strings.Contains(r.body, "acme-private") || len(r.header.Values("Set-Cookie")) > 0 {
			t.Fatalf("request %d: a large request got the smuggled response: %d %q", i, r.status, r.body)
		}
		if r.status != 200 || r.body != "acme-ok" {
			t.Fatalf("request %d: status %d body %q, want 200 acme-ok", i, r.status, r.body)
		}
	}
	if st.srv.upstream.stale.Load() == 0 {
		t.Errorf("no pooled connection was found with stray bytes before a large request; the test did not exercise the check (stale %d, dropped %d)", st.srv.upstream.stale.Load(), st.srv.upstream.dropped.Load())
	}
}

// On a pooled connection an answer that arrives within this request's own
// upstream timeout is forwarded, even when it comes after the deadline of
// the request before: the raw socket takes every deadline (readBy), where
// the d/8 rule kept the earlier one and gave 504 up to d/8 early.
func TestPooledTimeoutNotEarly(t *testing.T) {
	t.Parallel()
	const timeout = 4 * time.Second
	const gap = timeout / 10 // less than d/8 after the first request
	var n atomic.Int32
	up := startDelayedSecond(t, &n, timeout-gap/2) // after the first request's deadline, before this one's
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout, c.MaxUpstreamConn = up, timeout, 1 })
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("first request: status %d, want 200", r.status)
	}
	time.Sleep(gap)
	start := time.Now()
	r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
	if r.status != 200 {
		t.Fatalf("answer after %v of a %v upstream timeout: status %d, want 200",
			time.Since(start).Round(time.Millisecond), timeout, r.status)
	}
}

// startDelayedSecond answers every request with 200 ok, the second after
// delay.
func startDelayedSecond(t *testing.T, n *atomic.Int32, delay time.Duration) string {
	return startStreamUpstream(t, func(c net.Conn) error {
		if n.Add(1) == 2 {
			time.Sleep(delay)
		}
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err
	})
}

// A head larger than the writer's buffer, without a body, is handed to
// wire.Write whole (one write, of the header's own buffer): encode returns
// it whole, byte for byte what the writer sends, and it goes through
// sendWait.
func TestWireEncodeLargeHead(t *testing.T) {
	req := new(fasthttp.Request)
	req.SetRequestURI("/v1/users/42")
	req.Header.SetHost("upstream")
	req.Header.Set("X-Pad", strings.Repeat("p", 6<<10))
	var want bytes.Buffer
	bw := bufio.NewWriter(&want)
	req.Write(bw)
	bw.Flush()
	var w wire
	got := w.encode(req)
	defer w.release()
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("encode = %d bytes, want the %d the writer sends", len(got), want.Len())
	}
	if len(got) <= wireSize {
		t.Fatalf("the head is %d bytes, not over wireSize %d: the test lost its reach", len(got), wireSize)
	}
}

// A pooled connection the service reset (RST,
// not FIN) while it sat idle is found by sendWait's check before the
// request is written and replaced: the request is answered, not 502.
func TestPooledResetReplaced(t *testing.T) {
	reset := make(chan struct{}, 8)
	up := startStreamUpstream(t, func(c net.Conn) error {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		time.Sleep(20 * time.Millisecond) // the sidecar has pooled it
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		reset <- struct{}{}
		return io.EOF
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.MaxUpstreamConn = up, 1 })
	for i := range 4 {
		if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 || r.body != "ok" {
			t.Fatalf("request %d: status %d body %q, want 200 ok", i, r.status, r.body)
		}
		<-reset
		if i == 1 { // and the old path: a request of more than one buffer
			r := do(t, st.addr, "POST", "/v1/exports", key(adminKey), strings.Repeat("z", 8<<10))
			if r.status != 200 {
				t.Fatalf("large request after a reset: status %d, want 200", r.status)
			}
			<-reset
		}
	}
	if got := st.srv.upstream.stale.Load(); got < 3 {
		t.Errorf("%d reset connections found before reuse, want at least 3", got)
	}
}
