//go:build linux

package dataplane

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// keepAliveGet sends one authenticated GET on c and reads its response
// whole.
func keepAliveGet(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	fmt.Fprintf(c, "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\n\r\n", hrisKey)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
}

// TestSlowlorisOnKeepAliveConnHitsHeaderTimeout: a client that served
// requests before and then trickles a request's head, a byte at a time,
// is cut off by the header timeout counted from the head's first byte,
// not kept until the idle timeout (the lazy deadline must not leave the
// idle deadline on the socket). The head starts before and after the
// deadline of the request before has passed.
func TestSlowlorisOnKeepAliveConnHitsHeaderTimeout(t *testing.T) {
	const header, idle = 300 * time.Millisecond, 30 * time.Second
	st := startStack(t, func(c *Config) { c.HeaderTimeout, c.IdleTimeout = header, idle })
	for _, pause := range []time.Duration{0, 2 * header} {
		t.Run(fmt.Sprint("pause=", pause), func(t *testing.T) {
			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			keepAliveGet(t, c, br)
			keepAliveGet(t, c, br)
			time.Sleep(pause)
			start := time.Now()
			closed := make(chan time.Duration, 1)
			go func() {
				br.ReadByte() // the sidecar's 408 or the end of the connection
				closed <- time.Since(start)
			}()
			head := "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\n"
			for i := 0; ; i = (i + 1) % len(head) {
				select {
				case d := <-closed:
					if d > idle/3 {
						t.Fatalf("a trickled head was cut off after %v, want about the header timeout %v", d, header)
					}
					return
				case <-time.After(40 * time.Millisecond):
				}
				if time.Since(start) > idle/2 {
					t.Fatalf("a trickled head still open after %v; header timeout %v", time.Since(start), header)
				}
				c.Write([]byte{head[i]})
			}
		})
	}
}

// TestUpstreamSilentOnPooledConnTimesOut: an upstream that answered a
// request and then never answers the next one on the same connection
// gets a 504 once the upstream timeout passes (within the eighth the
// pool allows early), never a hang, and not much later.
func TestUpstreamSilentOnPooledConnTimesOut(t *testing.T) {
	const timeout = 600 * time.Millisecond
	var n atomic.Int32
	addr := startStreamUpstream(t, func(c net.Conn) error {
		if n.Add(1) > 1 {
			return nil // the first request only: the next is never answered
		}
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout, c.MaxUpstreamConn = addr, timeout, 1 })
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("first request: status %d, want 200", r.status)
	}
	time.Sleep(timeout / 3) // the first request's deadline is still ahead: the next one is noted lazily
	start := time.Now()
	r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
	took := time.Since(start)
	if r.status != 504 {
		t.Fatalf("silent upstream: status %d, want 504", r.status)
	}
	if took < timeout*7/8 {
		t.Fatalf("504 after %v, before the upstream timeout %v (less an eighth)", took, timeout)
	}
}

// TestSlowResponseReaderCutOffByWriteTimeout: a client that asks for a
// large response and then reads nothing is cut off by the write timeout,
// which releases the upstream connection the body streams from; on
// HTTP/1.1 and on HTTP/1.0, whose body of unknown length goes out on a
// hijacked connection (streamToClose). fasthttp clears the connection's
// deadlines before it runs a hijack handler, so writeToClose must set its
// own: without it a client that stops reading holds the goroutine, the
// upstream connection and the concurrency slot for ever (the upstream
// below is never released).
func TestSlowResponseReaderCutOffByWriteTimeout(t *testing.T) {
	const wt = 300 * time.Millisecond
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		t.Run(proto, func(t *testing.T) {
			released := make(chan struct{}, 1)
			piece := make([]byte, 32<<10)
			up := startStreamUpstream(t, func(c net.Conn) error {
				defer func() { released <- struct{}{} }()
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
					return err
				}
				c.SetWriteDeadline(time.Now().Add(60 * time.Second))
				for range 1 << 12 { // up to 128 MiB: more than the socket buffers hold
					if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(piece), piece); err != nil {
						return err // the sidecar closed the connection
					}
				}
				_, err := io.WriteString(c, "0\r\n\r\n")
				return err
			})
			st := startStack(t, func(c *Config) { c.Upstream, c.WriteTimeout = up, wt })
			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /v1/users/42 %s\r\nHost: svc\r\nX-API-Key: %s\r\n\r\n", proto, hrisKey)
			select { // the client reads nothing
			case <-released:
			case <-time.After(20 * time.Second):
				t.Fatalf("a client that read nothing for 20s still holds the upstream connection; write timeout %v", wt)
			}
		})
	}
}

// TestUpstreamAnswerAfterEarlierDeadlineIsForwarded: on a pooled
// connection the deadline of the request before stays on the socket
// (lazy deadlines) and fires while sendWait waits for the next answer; an
// answer that arrives after it, but within this request's timeout, must
// still be forwarded (200), not cut off as a timeout.
func TestUpstreamAnswerAfterEarlierDeadlineIsForwarded(t *testing.T) {
	const timeout = 800 * time.Millisecond
	var n atomic.Int32
	addr := startStreamUpstream(t, func(c net.Conn) error {
		if n.Add(1) == 2 {
			time.Sleep(timeout * 3 / 4) // past the first request's deadline
		}
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout, c.MaxUpstreamConn = addr, timeout, 1 })
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("first request: status %d, want 200", r.status)
	}
	time.Sleep(timeout / 2)
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 || r.body != "ok" {
		t.Fatalf("answer within the timeout after the earlier deadline: status %d body %q, want 200 ok", r.status, r.body)
	}
	if got := st.srv.upstream.stale.Load(); got != 0 {
		t.Fatalf("%d pooled connections found stale, want 0 (the test must reuse the connection)", got)
	}
}

// TestUpstreamGetsNormalTargetByteForByte: the request line the upstream
// reads carries the normal form the sidecar routed and authorised, byte
// for byte, on a pooled connection (sendWait) and over TLS, now that the
// URI is no longer parsed again before it is sent: a re-parse with path
// normalising would decode "%2B" to "+" (another resource for the
// service) and lose the query's escapes.
func TestUpstreamGetsNormalTargetByteForByte(t *testing.T) {
	st := startStack(t, nil)
	targets := []struct{ send, want string }{
		{"/v1/users/%2b42", "/v1/users/%2B42"},
		{"/v1/users/%7e42?a=%2F&b=%3f+c", "/v1/users/~42?a=%2F&b=%3f+c"},
		{"http://svc/v1/users/x%20y?q=%25", "/v1/users/x%20y?q=%25"},
	}
	tlsAddr, dial := serveTLSForReview(t, st)
	for i, tc := range targets {
		for j := 0; j < 3; j++ { // the second goes on a pooled upstream connection, the third over TLS
			req := "GET " + tc.send + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n\r\n"
			var r reply
			if j < 2 {
				r = raw(t, st.addr, req)
			} else {
				r = dial(t, tlsAddr, req)
			}
			if r.status != 200 {
				t.Fatalf("%s: status %d, want 200", tc.send, r.status)
			}
			got := st.up.received()
			if last := got[len(got)-1].uri; last != tc.want {
				t.Errorf("%s (request %d): upstream got target %q, want %q", tc.send, 3*i+j, last, tc.want)
			}
			// The second is written by sendWait, the pooled connection's
			// path: it must come on the first one's connection.
			if n := len(got); j == 1 && (n < 2 || got[n-1].conn != got[n-2].conn) {
				t.Errorf("%s: the second request did not reuse the upstream connection of the first", tc.send)
			}
		}
	}
}

// serveTLSForReview serves st's policy over the sidecar's own TLS too
// (Config.TLS, a fresh CA's certificate): a second Server on st's store,
// upstream and audit sink (its stack's own upstream unused). It returns
// its address and a raw TLS client.
func serveTLSForReview(t *testing.T, st *stack) (string, func(*testing.T, string, string) reply) {
	files := tlsFiles(t, newAuthority(t, "server CA").issue(t, "sidecar", nil, true), nil)
	tst := startStack(t, func(c *Config) { c.Store, c.Upstream, c.Audit, c.TLS = st.store, st.up.addr, st.sink, files })
	return tst.addr, func(t *testing.T, addr, request string) reply {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the test's own certificate
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, request)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}
}
