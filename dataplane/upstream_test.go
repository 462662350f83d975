package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// startRawUpstream is a real TCP service that parses each request with
// net/http and answers it with exactly the bytes answer returns, in one
// write, so that it can misbehave on purpose.
func startRawUpstream(t testing.TB, answer func(r *http.Request) []byte) string {
	t.Helper()
	return acceptEach(t, func(_ int, c net.Conn) { serveRaw(c, answer) }).Addr().String()
}

// acceptEach listens on loopback and serves the nth connection accepted
// (from 0) with serve, on its own goroutine, until the test ends; then the
// listener and every connection are closed.
func acceptEach(t testing.TB, serve func(n int, c net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go serve(n, c)
		}
	}()
	return ln
}

func serveRaw(c net.Conn, answer func(r *http.Request) []byte) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
		if _, err := c.Write(answer(req)); err != nil {
			return
		}
	}
}

// victim is a whole response smuggled after acme's: if any client ever
// gets it, a connection carried one response's bytes into another's.
const victim = "HTTP/1.1 200 OK\r\nSet-Cookie: victim=1\r\nContent-Length: 12\r\n\r\nacme-private"

// padTo pads head with filler so that head+filler is exactly n bytes:
// with n the sidecar's upstream read buffer (upBuf), the reader then holds
// the padded part and the victim stays in the socket, where the next
// request on the connection reads it.
func padTo(n int, head, filler string) string {
	return head + strings.Repeat(filler, n-len(head))
}

// upBuf is the sidecar's upstream read buffer: MaxHeaderBytes, 16 KiB
// by default.
const upBuf = 16 << 10

// misbehaviours are the answers for acme: extra bytes after a finished
// response (a body on a 204, more than Content-Length), some within the
// sidecar's read buffer, some past it.
var misbehaviours = []string{
	"HTTP/1.1 204 No Content\r\n\r\n" + victim,
	padTo(upBuf, "HTTP/1.1 204 No Content\r\n\r\n", "x") + victim,
	padTo(upBuf-4, "HTTP/1.1 204 No Content\r\nX-Pad: ", "p") + "\r\n\r\n" + victim,
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + victim,
	padTo(upBuf, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "y") + victim,
	"HTTP/1.1 304 Not Modified\r\n\r\n" + victim,
}

// Item 8 of issue 12: an upstream that sends bytes after a finished
// response (a body on a 204, more than Content-Length) must not get them
// delivered to the next request on a pooled connection. Two tenants
// alternate over few upstream connections, thousands of requests; no
// response may carry the smuggled one.
func TestUpstreamLeftoverNeverDelivered(t *testing.T) {
	var n atomic.Uint64
	up := startRawUpstream(t, func(r *http.Request) []byte {
		if r.Header.Get("X-Portcullis-Tenant") == "globex" {
			return []byte("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nglobex-ok")
		}
		return []byte(misbehaviours[n.Add(1)%uint64(len(misbehaviours))])
	})
	// No per-tenant cap (TenantMaxInFlight above the pool): the requests
	// queue at the pool, as this test needs.
	st := startStack(t, func(c *Config) { c.Upstream, c.MaxUpstreamConn, c.TenantMaxInFlight = up, 2, 1<<20 })
	st.store.Swap(withoutLimits(t, loadExample(t)))

	const workers, each = 4, 600
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for i := range each {
				globex := (i+w)%2 == 0
				if msg := checkTenantRequest(client, st.addr, globex); msg != "" {
					errs <- msg
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var bad, smuggled []string
	for m := range errs {
		if strings.Contains(m, "smuggled") {
			smuggled = append(smuggled, m)
		}
		bad = append(bad, m)
	}
	if len(smuggled) > 0 {
		t.Fatalf("%d of %d responses carried the smuggled one; first: %s", len(smuggled), workers*each, smuggled[0])
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d responses wrong; first: %s", len(bad), workers*each, bad[0])
	}
	if got := st.srv.upstream.stale.Load() + st.srv.upstream.dropped.Load(); got == 0 {
		t.Errorf("no upstream connection was closed for leftover bytes; the test did not exercise them")
	}
}

// checkTenantRequest sends one request as globex-bi or acme-hris and
// says what is wrong with the answer, or "".
func checkTenantRequest(client *http.Client, addr string, globex bool) string {
	target, key := "/v1/users/42", hrisKey
	if globex {
		target, key = "/v1/reports/7", globexKey
	}
	req, _ := http.NewRequest("GET", "http://"+addr+target, nil)
	req.Header.Set("X-API-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Sprintf("globex=%v: %v", globex, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Sprintf("globex=%v: reading body: %v", globex, err)
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) > 0 || strings.Contains(string(body), "acme-private") {
		return fmt.Sprintf("globex=%v got the smuggled response: status %d, Set-Cookie %q, body %q", globex, resp.StatusCode, c, body)
	}
	if globex && (resp.StatusCode != 200 || string(body) != "globex-ok") {
		return fmt.Sprintf("globex got status %d body %q, want 200 globex-ok", resp.StatusCode, body)
	}
	if !globex && resp.StatusCode != 204 && resp.StatusCode != 304 && !(resp.StatusCode == 200 && string(body) == "hello") {
		return fmt.Sprintf("acme got status %d body %q, want its own 204, 304 or 200 hello", resp.StatusCode, body)
	}
	return ""
}

// Responses framed in a way a proxy cannot forward safely are 502 (and
// their connection closed); interim 1xx responses are skipped.
func TestUpstreamFraming(t *testing.T) {
	cases := []struct {
		name, answer string
		status       int
	}{
		{"100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200},
		{"204 with a length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", 502},
		{"204 chunked", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502},
		{"304 chunked", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502},
		{"101 unasked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", 502},
		{"nine interim", strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 9) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 502},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 502},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", 502},
		{"identity coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nok", 502},
		{"304 with a length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 304},
		// Content-Length and chunked together (RFC 9112 section 6.3: "ought
		// to be handled as an error"; nginx answers 502): the sidecar took
		// it as chunked and pooled the connection, whatever the service meant.
		{"length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502},
		{"chunked and length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-length: 5\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502},
		{"length, chunked, big", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCONTENT-LENGTH: 99999\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502},
	}
	up := startRawUpstream(t, func(r *http.Request) []byte {
		for i, c := range cases {
			if r.URL.Path == fmt.Sprintf("/v1/users/%d", i) {
				return []byte(c.answer)
			}
		}
		return []byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.MaxUpstreamConn = up, 1 })
	st.store.Swap(withoutLimits(t, loadExample(t)))
	for i, c := range cases {
		r := do(t, st.addr, "GET", fmt.Sprintf("/v1/users/%d", i), key(hrisKey), "")
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d (body %q)", c.name, r.status, c.status, r.body)
		}
		if c.status == 502 && r.errorBody(t).Error != "upstream_error" {
			t.Errorf("%s: body %q, want upstream_error", c.name, r.body)
		}
		// The one upstream connection is usable afterwards: a good
		// response comes back whole.
		if r := do(t, st.addr, "GET", "/v1/users/good", key(hrisKey), ""); r.status != 200 || r.body != "good" {
			t.Errorf("after %s: status %d body %q, want 200 good", c.name, r.status, r.body)
		}
	}
}

// A response the sidecar cannot parse is 502, and the log line says so
// without quoting it: fasthttp's parse errors carry the bytes they
// refused, which may be a cookie or a token (issue 12, item 11).
func TestUpstreamErrorLogsNoBytes(t *testing.T) {
	const canary = "canary-s3cr3t-value"
	up := startRawUpstream(t, func(r *http.Request) []byte {
		return []byte("HTTP/1.1 200 OK\r\nSet-Cookie: session=" + canary + "\x01\r\nContent-Length: 2\r\n\r\nok")
	})
	logs := &lockedBuffer{}
	st := startStack(t, func(c *Config) { c.Upstream, c.Logger = up, zerolog.New(logs).Level(zerolog.DebugLevel) })
	r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
	if r.status != 502 {
		t.Fatalf("status %d, want 502", r.status)
	}
	if !strings.Contains(logs.String(), "upstream request failed") {
		t.Fatalf("no log line for the failure; logs:\n%s", logs)
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("log holds the upstream's bytes:\n%s", logs)
	}
}

// lockedBuffer is a strings.Builder safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A pooled connection the service has closed while it sat idle (its own
// keep-alive timeout) is found closed before reuse and replaced: the next
// request is answered, not failed with 502.
func TestUpstreamIdleCloseReplaced(t *testing.T) {
	closed := make(chan struct{}, 8)
	up := startStreamUpstream(t, func(c net.Conn) error {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close() // no Connection: close: the sidecar pools it
		closed <- struct{}{}
		return io.EOF
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	for i := range 3 {
		if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 || r.body != "ok" {
			t.Fatalf("request %d: status %d body %q, want 200 ok", i, r.status, r.body)
		}
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("upstream did not close")
		}
	}
	if got := st.srv.upstream.stale.Load(); got == 0 {
		t.Errorf("no pooled connection was found closed; the test did not exercise it")
	}
}

func TestUpstreamFailures(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	st := startStack(t, func(c *Config) { c.Upstream = deadAddr })
	r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 502 || r.errorBody(t).Error != "upstream_error" {
		t.Errorf("upstream down: got %d %s, want 502 upstream_error", r.status, r.body)
	}
	slow := startStack(t, func(c *Config) { c.UpstreamTimeout = 100 * time.Millisecond })
	slow.up.delay = time.Second
	r = do(t, slow.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 504 || r.errorBody(t).Error != "upstream_timeout" {
		t.Errorf("upstream slow: got %d %s, want 504 upstream_timeout", r.status, r.body)
	}
}
