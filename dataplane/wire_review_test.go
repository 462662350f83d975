package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/audit"
)

// An upstream's hop-by-hop response headers never reach the client, in
// whatever case the upstream spells them (Node and HTTP/2 gateways send
// lower-case names; the response head keeps the upstream's spelling),
// and neither do the headers its Connection lines list, nor a Connection
// line of its own beside the sidecar's.
func TestResponseHopByHopAnyCase(t *testing.T) {
	big := strings.Repeat("b", streamAbove+1)
	heads := []string{
		"connection: X-Internal-Debug, keep-alive\r\nkeep-alive: timeout=5\r\nupgrade: h2c\r\nproxy-authenticate: Basic\r\nte: trailers\r\n",
		"Connection: x-internal-debug\r\nKeep-Alive: timeout=5\r\nUPGRADE: h2c\r\n",
		"Connection: close, X-Internal-Debug\r\n",
		"Connection: keep-alive\r\nconnection: X-Internal-Debug\r\n",
		"connection: content-type, X-INTERNAL-DEBUG\r\n", // a name fasthttp gives back as its default once deleted
	}
	bodies := map[string]string{"small": "ok", "streamed": big}
	up := startRawUpstream(t, func(r *http.Request) []byte {
		i := int(r.URL.Path[len(r.URL.Path)-1] - '0')
		body := bodies[r.URL.Query().Get("size")]
		return []byte("HTTP/1.1 200 OK\r\n" + heads[i] + "X-Internal-Debug: secret\r\nContent-Type: text/plain\r\nContent-Length: " +
			itoa(len(body)) + "\r\n\r\n" + body)
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	st.store.Swap(withoutLimits(t, loadExample(t)))
	for size, body := range bodies {
		for i := range heads {
			r := do(t, st.addr, "GET", "/v1/users/"+itoa(i)+"?size="+size, key(hrisKey), "")
			if r.status != 200 || r.body != body {
				t.Fatalf("%s %d: status %d body of %d bytes, want 200 and the upstream's", size, i, r.status, len(r.body))
			}
			for _, name := range []string{"X-Internal-Debug", "Keep-Alive", "Upgrade", "Proxy-Authenticate", "Te"} {
				if v := r.header.Values(name); len(v) > 0 {
					t.Errorf("%s %d: the client got %s %q, a hop-by-hop header of the upstream's", size, i, name, v)
				}
			}
			if v := r.header.Values("Connection"); len(v) > 1 || len(v) == 1 && v[0] != "close" {
				t.Errorf("%s %d: the client got Connection %q, want the sidecar's own only", size, i, v)
			}
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// An upstream that ends a connection with "Connection: Close", or lists
// close among other names, gets no further request on it: fasthttp takes
// only a line that is exactly "close", and the connection went back to
// the pool, where the next request, another client's, waited for an
// answer that never came until the upstream timeout (RFC 9112 section
// 9.6). fasthttp also keeps no line that is exactly "close" and lets a
// later Connection line clear what that one marked, so "close" followed
// by "keep-alive" (a framework adding its own line) or by a list of
// names went back to the pool the same way. The upstream here answers
// the first request of each connection that way and then reads nothing
// more on it.
func TestUpstreamConnectionCloseAnySpelling(t *testing.T) {
	for _, lines := range []string{
		"Connection: Close\r\n", "Connection: close, X-Debug\r\n", "Connection: keep-alive, CLOSE\r\n",
		"Connection: close\r\nConnection: keep-alive\r\n", "Connection: close\r\nconnection: X-Debug\r\n",
		"Connection: keep-alive,\r\n close\r\n", // folded: fasthttp joins the lines
	} {
		t.Run(lines, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			t.Cleanup(func() { close(done); ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
							return
						}
						io.WriteString(c, "HTTP/1.1 200 OK\r\n"+lines+"Content-Length: 2\r\n\r\nok")
						<-done // the connection stays open, and unread
					}()
				}
			}()
			st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = ln.Addr().String(), 5*time.Second })
			for i := range 2 {
				if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 || r.body != "ok" {
					t.Fatalf("request %d: status %d body %q, want 200 ok from a new upstream connection", i, r.status, r.body)
				}
			}
		})
	}
}

// The response's X-Request-Id is the sidecar's, the id of the audit
// record, once: an upstream that sends its own in another spelling
// (x-request-id, as many frameworks echo it) had the client get both,
// the upstream's first, which is the one most clients read.
func TestResponseRequestIDIsTheSidecars(t *testing.T) {
	up := startRawUpstream(t, func(r *http.Request) []byte {
		return []byte("HTTP/1.1 200 OK\r\nx-request-id: forged-1\r\nX-REQUEST-ID: forged-2\r\nX-Request-ID: forged-3\r\nContent-Length: 2\r\n\r\nok")
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	r := do(t, st.addr, "GET", "/v1/status", nil, "")
	rec := st.sink.last(t)
	if v := r.header.Values("X-Request-Id"); r.status != 200 || len(v) != 1 || v[0] != string(rec.RequestID()) {
		t.Fatalf("status %d, X-Request-Id %q, want 200 and only the audit record's %q", r.status, v, rec.RequestID())
	}
}

// An HTTP/1.0 request with "Connection: keep-alive" went to the upstream
// as HTTP/1.0 without it (the sidecar removes hop-by-hop options), which
// ends the connection after the response (RFC 9112 section 9.3); but the
// sidecar pooled it whenever the response did not say close itself, and
// the next request, another client's, waited there until the upstream
// timeout. The upstream here, as RFC 9112 lets it, reads nothing more
// after answering a request its own parser marks as the last one.
func TestUpstreamHTTP10RequestEndsItsConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					if r.Close {
						<-done // the connection stays open, and unread
						return
					}
				}
			}()
		}
	}()
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = ln.Addr().String(), 5*time.Second })
	if r := raw(t, st.addr, "GET /v1/status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"); r.status != 200 || r.body != "ok" {
		t.Fatalf("HTTP/1.0 request: status %d body %q, want 200 ok", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 || r.body != "ok" {
		t.Fatalf("next request: status %d body %q, want 200 ok from a new upstream connection", r.status, r.body)
	}
}

// An upstream that stalls in the middle of a streamed body is cut off by
// the upstream timeout, and the audit record says so: it said
// upstream_error, as for a body that broke off or did not parse, so the
// record of a slow service read like a broken one.
func TestStreamedBodyStallAuditedAsTimeout(t *testing.T) {
	piece := strings.Repeat("p", streamAbove+1)
	for name, head := range map[string]string{
		"length":  "HTTP/1.1 200 OK\r\nContent-Length: " + itoa(2*len(piece)) + "\r\n\r\n" + piece,
		"chunked": fmt.Sprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(piece), piece),
	} {
		t.Run(name, func(t *testing.T) {
			stalled := make(chan struct{})
			up := startStreamUpstream(t, func(c net.Conn) error {
				io.WriteString(c, head)
				<-stalled // the rest never comes
				return io.EOF
			})
			defer close(stalled)
			st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, 300*time.Millisecond })
			rawAll(t, st.addr, "GET /v1/users/1 HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n\r\n", 10*time.Second)
			if rec := st.sink.waitLast(t, "the stalled stream"); rec.Decision != audit.UpstreamTimeout {
				t.Fatalf("decision %v, want %v", rec.Decision, audit.UpstreamTimeout)
			}
		})
	}
}

// An upstream that sends a long body of known length a byte at a time,
// each within the upstream timeout, held the client connection, the
// upstream connection and the concurrency slot for as long as it went on:
// fasthttp writes such a body through a 4 KiB buffer, so the client's
// write deadline (WriteTimeout, which README gives the whole response)
// was first tested after 4 KiB more had trickled in, hours at the upstream
// timeout. A chunked body is flushed chunk by chunk and was cut off. The
// response now ends when the write timeout has passed, audited
// upstream_timeout.
func TestStreamedBodyTrickleEndsAtWriteTimeout(t *testing.T) {
	trickleEndsAtWriteTimeout(t)
}

// The same trickle with the sidecar's process busy: goroutines that never
// block share its processors. A stream yielded the processor after each
// write to the client, and then waited behind them for it, so that its
// time ran out between two reads, where it was always the client's: the
// trickle was audited allowed, cut by the client ("decision allowed, want
// upstream_timeout", 6 runs of 6; once in CI with the package's other
// tests in the process). The time the stream spends in writes to the
// client is now weighed against its time in reads from the upstream
// (upstreamLate), and a stream does not yield.
func TestStreamedBodyTrickleEndsAtWriteTimeoutBusy(t *testing.T) {
	spinProcessors(t, 4)
	trickleEndsAtWriteTimeout(t)
}

// spinProcessors keeps n goroutines running without blocking until t
// ends: the process's processors are busy.
func spinProcessors(t *testing.T, n int) {
	var stop atomic.Bool
	var done sync.WaitGroup
	t.Cleanup(func() { stop.Store(true); done.Wait() })
	for range n {
		done.Go(func() {
			for x := 0; !stop.Load(); x++ {
			}
		})
	}
}

func trickleEndsAtWriteTimeout(t *testing.T) {
	ended := make(chan struct{})
	up := startStreamUpstream(t, func(c net.Conn) error {
		defer close(ended)
		head := "HTTP/1.1 200 OK\r\nContent-Length: " + itoa(4*streamAbove) + "\r\n\r\n"
		if _, err := io.WriteString(c, head+strings.Repeat("p", streamAbove)); err != nil {
			return err
		}
		for range 3 * streamAbove { // a byte every 10 ms: the trickle goes on for minutes
			time.Sleep(10 * time.Millisecond)
			if _, err := c.Write([]byte{'t'}); err != nil {
				return err // the sidecar ended the response
			}
		}
		return io.EOF
	})
	st := startStack(t, func(c *Config) {
		c.Upstream, c.UpstreamTimeout, c.WriteTimeout = up, time.Second, 300*time.Millisecond
	})
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/users/1 HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\n\r\n")
	go io.Copy(io.Discard, c) // the client reads all it is sent
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the sidecar still streamed a trickling body after 30s; write timeout 300ms")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st.sink.mu.Lock()
		n := len(st.sink.recs)
		st.sink.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit record for the trickling stream")
		}
	}
	if rec := st.sink.last(t); rec.Decision != audit.UpstreamTimeout {
		t.Fatalf("decision %v, want %v", rec.Decision, audit.UpstreamTimeout)
	}
}

// A pooled connection found with stray bytes on it is closed and the
// request goes on another one, once: sendWait found them and wrote
// nothing, but send then wrote "what was left" of the request, all of
// it, on the stale connection before closing it, so the service got a
// POST twice, once on a connection it had already desynchronised. The
// upstream here sends a byte after its first response, once the client
// has that response, and records each request's id.
func TestPooledStrayRequestSentOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex // guards seen
	seen := map[string]int{}
	sendStray, straySent, firstDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(first bool) {
				defer c.Close()
				if first {
					defer close(firstDone)
				}
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, r.Body)
					mu.Lock()
					seen[r.Header.Get("X-Request-Id")]++
					mu.Unlock()
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					if first && r.URL.Path == "/v1/users/1" {
						<-sendStray
						c.Write([]byte("x")) // nobody asked for it
						close(straySent)
					}
				}
			}(first)
		}
	}()
	st := startStack(t, func(c *Config) { c.Upstream = ln.Addr().String() })
	if r := do(t, st.addr, "GET", "/v1/users/1", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("first request: status %d, want 200", r.status)
	}
	close(sendStray)
	<-straySent
	if r := do(t, st.addr, "POST", "/v1/records", map[string]string{"X-API-Key": hrisKey, "X-Request-Id": "post-once"}, "{}"); r.status != 200 {
		t.Fatalf("POST: status %d body %q, want 200", r.status, r.body)
	}
	select { // the stale connection is closed, and the upstream has read all it was sent on it
	case <-firstDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the stale upstream connection was not closed")
	}
	mu.Lock()
	defer mu.Unlock()
	if n := seen["post-once"]; n != 1 {
		t.Fatalf("the upstream got the POST %d times, want once", n)
	}
	if n := st.srv.upstream.stale.Load(); n != 1 {
		t.Fatalf("%d stale connections found, want 1: the test did not exercise one", n)
	}
}

// TestHeadListsClose reads response heads as readHead's scan does: a
// Connection line listing close in any spelling, among other lines, after
// another Connection line or folded onto the next, ends the connection;
// lines that only look alike (Content-*, a name with "connection" inside)
// do not, and an unfinished head is not whole.
func TestHeadListsClose(t *testing.T) {
	cases := []struct {
		head          string
		closes, whole bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, true},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", true, true},
		{"HTTP/1.1 200 OK\r\nconnection: Close\r\n\r\n", true, true},
		{"HTTP/1.1 200 OK\r\nCONNECTION: keep-alive, CLOSE\r\n\r\n", true, true},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", true, true},
		{"HTTP/1.1 200 OK\r\nConnection: x-debug,\r\n close\r\n\r\n", true, true},
		{"HTTP/1.1 200 OK\r\nContent-Type: close\r\nConnection: keep-alive\r\n\r\n", false, true},
		{"HTTP/1.1 200 OK\r\nConnectionx: close\r\nX-Connection: close\r\n\r\n", false, true},
		{"HTTP/1.1 200 OK\r\nConnection : close\r\n\r\n", true, true},
		{"\r\nHTTP/1.1 200 OK\nConnection: close\n\n", true, true},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\n", true, false},
		{"HTTP/1.1 200 OK\r\nConn", false, false},
	}
	for _, c := range cases {
		if closes, _, whole, _ := headListsClose([]byte(c.head)); closes != c.closes || whole != c.whole {
			t.Errorf("headListsClose(%q) = %v, %v; want %v, %v", c.head, closes, whole, c.closes, c.whole)
		}
	}
}

// headListsCloseRef is headListsClose as it was before it read names in
// place (fieldValue): the colon found, the name trimmed, then compared.
// TestHeadListsCloseSame holds the two to the same answers.
func headListsCloseRef(b []byte) (closes, length, whole bool) {
	status, conn := false, false
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return closes, length, false
		}
		line := bytes.TrimSuffix(b[:i], []byte("\r"))
		b = b[i+1:]
		switch {
		case !status:
			status = len(line) > 0
		case len(line) == 0:
			return closes, length, true
		case line[0] == ' ' || line[0] == '\t':
			closes = closes || conn && inList(line, []byte("close"))
		case len(line) < len("Connection:") || line[0]|0x20 != 'c':
			conn = false
		case line[3]|0x20 != 'n':
			conn = false
			if c := bytes.IndexByte(line, ':'); c > 0 && foldEqual(bytes.TrimRight(line[:c], " \t"), "content-length") {
				length = true
			}
		default:
			c := bytes.IndexByte(line, ':')
			conn = c >= 0 && foldEqual(bytes.TrimRight(line[:c], " \t"), "connection")
			closes = closes || conn && inList(line[c+1:], []byte("close"))
		}
	}
}

// TestHeadListsCloseSame checks headListsClose against the scan it
// replaced on heads built from lines that come near the names it looks
// for (blanks and colons around them, case, folds, bare LF, a CR inside),
// every one of up to three lines and 200,000 random ones of up to eight.
func TestHeadListsCloseSame(t *testing.T) {
	parts := []string{
		"Connection: close", "connection:close", "CONNECTION \t: keep-alive, close", "Connection:", "Connection",
		"Connection : x", "Connectionx: close", "Connection:: close", "Connection\t:close", "Connection close",
		"Content-Length: 5", "content-length :5", "Content-Length", "Content-Length:", "Content-Lengthx: 1",
		"Content-Length\r: 1", "Content-Type: close", "Content-Length : 1", "Cont", "C", "Conn:", "cOnNeCtIoN: CLOSE",
		" close", "\tclose", " x", "", "X-Connection: close", "Server: y", "Connect\rion: close", "Content:Length: 1",
	}
	ends := []string{"\r\n", "\n"}
	check := func(head string) {
		t.Helper()
		c1, l1, w1, _ := headListsClose([]byte(head))
		c2, l2, w2 := headListsCloseRef([]byte(head))
		if c1 != c2 || l1 != l2 || w1 != w2 {
			t.Fatalf("headListsClose(%q) = %v, %v, %v; the scan before gave %v, %v, %v", head, c1, l1, w1, c2, l2, w2)
		}
	}
	var walk func(head string, depth int)
	walk = func(head string, depth int) {
		check(head)
		check(head + "\r\n")
		if depth == 3 {
			return
		}
		for _, p := range parts {
			for _, e := range ends {
				walk(head+p+e, depth+1)
			}
		}
	}
	walk("HTTP/1.1 200 OK\r\n", 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\n")
		for range rng.IntN(9) {
			b.WriteString(parts[rng.IntN(len(parts))])
			b.WriteString(ends[rng.IntN(2)])
		}
		if rng.IntN(2) == 0 {
			b.WriteString("\r\n")
		}
		check(b.String())
	}
}

// TestScrubbedSame holds scrubbed to the list it reads by words: every
// hop-by-hop name and X-Request-Id in any case, and every one-byte
// change of them, is scrubbed exactly when it equals one ignoring case,
// as isHopByHop and bytes.EqualFold say, when its bytes are letters,
// digits and '-' (any name a header of these could be mistaken for); a
// name with other bytes may be scrubbed in excess, never missed.
func TestScrubbedSame(t *testing.T) {
	want := func(name []byte) bool {
		return isHopByHop(name) || bytes.EqualFold(name, hdrRequestID)
	}
	plain := func(name []byte) bool {
		for _, c := range name {
			if !tokenByte[c] {
				return false
			}
		}
		return true
	}
	check := func(name []byte) {
		t.Helper()
		got, w := scrubbed(name), want(name)
		if got != w && (plain(name) || w) {
			t.Fatalf("scrubbed(%q) = %v, want %v", name, got, w)
		}
	}
	names := append(append([]string(nil), hopByHop...), string(hdrRequestID), "X-Request-Idx", "Content-Length", "Server", "Date", "T", "")
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range names {
		for range 64 { // any case
			b := []byte(n)
			for i, c := range b {
				if rng.IntN(2) == 0 {
					b[i] = byte(unicode.ToUpper(rune(c)))
				} else {
					b[i] = byte(unicode.ToLower(rune(c)))
				}
			}
			check(b)
		}
		for i := range len(n) { // every byte changed to every other
			for c := range 256 {
				b := []byte(n)
				b[i] = byte(c)
				check(b)
			}
		}
	}
}
