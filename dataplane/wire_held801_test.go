package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// The tests of this file hold what attack801 sent over real sockets and
// found held, where no test held it yet (docs/trust-boundary.md, "Tried
// and held (attack801)").

// smuggledGet is a whole request with a valid key, sent as the body of a
// request the sidecar refuses before its body: a front proxy that sent it
// as that body must never see it answered as a request of its own.
const smuggledGet = "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nX-Smuggled: yes\r\n\r\n"

// refusedThenBody sends head, reads the one answer, then writes body on
// the same connection and reads on: the answer must say the connection
// ends, and nothing more may come (no second answer). It returns the
// first answer's status.
func refusedThenBody(t *testing.T, addr, head, body string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, head)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%.80q: reading the answer: %v", head, err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if !resp.Close {
		t.Errorf("%.80q: %d without Connection: close", head, resp.StatusCode)
	}
	io.WriteString(c, body) // may fail: the sidecar closed
	if r2, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("%.80q: a second answer, %d, to the body sent after the refusal", head, r2.StatusCode)
	}
	return resp.StatusCode
}

// TestExpectRefusalBodyIsNoRequest: a request with Expect: 100-continue
// refused from its head (no key that verifies, no route, a scope the key
// lacks, content on a GET, no policy loaded) is answered with Connection:
// close and the connection ends; a body sent after the refusal anyway (a
// front proxy does not wait for 100), holding a whole request with a
// valid key, is never read as a request, so never forwarded. Without
// Expect, a declared body past 16 KiB refused from its head likewise.
func TestExpectRefusalBodyIsNoRequest(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	unready, upUnready := startRecorded(t, func(c *Config) { c.Store = &policy.Store{} })
	cl := "Content-Length: " + strconv.Itoa(len(smuggledGet)) + "\r\n\r\n"
	expect := "Expect: 100-continue\r\n"
	big := smuggledGet + strings.Repeat("x", 20000-len(smuggledGet))
	for _, c := range []struct {
		name, addr, head, body string
		status                 int
	}{
		{"a key that does not verify", st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: pk_nokey1_NoSuchSecret00000000000001\r\n" + expect + cl, smuggledGet, 401},
		{"no route", st.addr, "POST /v1/nothing HTTP/1.1\r\nHost: svc\r\n" + expect + cl, smuggledGet, 404},
		{"a scope the key lacks", st.addr, "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + expect + cl, smuggledGet, 403},
		{"content on a GET", st.addr, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + expect + cl, smuggledGet, 400},
		{"no policy loaded", unready.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + expect + cl, smuggledGet, 503},
		{"past 16 KiB, no Expect", st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: pk_nokey1_NoSuchSecret00000000000001\r\nContent-Length: 20000\r\n\r\n", big, 401},
	} {
		if got := refusedThenBody(t, c.addr, c.head, c.body); got != c.status {
			t.Errorf("%s: %d, want %d", c.name, got, c.status)
		}
	}
	if n := len(up.received()) + len(upUnready.received()); n != 0 {
		t.Errorf("the upstream got %d request(s), want none", n)
	}
}

// scriptedUpstream answers every request with what script holds, but
// /v1/users/clean with a plain 200 "clean"; it counts its connections.
type scriptedUpstream struct {
	addr   string
	script atomic.Value // string
	conns  atomic.Int32
}

func startScripted(t *testing.T) *scriptedUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &scriptedUpstream{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			go u.serve(c)
		}
	}()
	return u
}

func (u *scriptedUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if req.URL.Path == "/v1/users/clean" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean")
			continue
		}
		io.WriteString(c, u.script.Load().(string))
	}
}

// TestHostileResponseFramingHeld: a service answering with a list in
// Content-Length, a coding before chunked, Transfer-Encoding twice, or
// a Trailer declaring Set-Cookie gets its client a 502; a chunked
// answer's trailer fields (an X-Request-Id among them) never reach the
// client; a 204 with a second response behind it, and a 304 declaring
// a length, reach the client alone. In every case the client's next
// request on the same connection gets its own answer, never a byte the
// service sent before.
func TestHostileResponseFramingHeld(t *testing.T) {
	t.Parallel()
	up := startScripted(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Clients {
			d.Clients[i].Limit = nil
		}
	})
	const chunk = "5\r\nhello\r\n0\r\n\r\n"
	for _, c := range []struct {
		name, resp string
		status     int
		body       string // "" for a 502
	}{
		{"Content-Length 5, 5", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", 502, ""},
		{"gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunk, 502, ""},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk, 502, ""},
		{"Trailer: Set-Cookie", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Set-Cookie\r\n\r\n" + chunk, 502, ""},
		{"trailer fields", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Foo\r\n\r\n5\r\nhello\r\n0\r\nX-Foo: bar\r\nX-Request-Id: evil\r\n\r\n", 200, "hello"},
		{"204 then a response", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", 204, ""},
		{"304 declaring a length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n", 304, ""},
		{"a response after the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", 200, "hello"},
	} {
		up.script.Store(c.resp)
		conn, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		k := "Host: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n"
		io.WriteString(conn, "GET /v1/users HTTP/1.1\r\n"+k)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			t.Errorf("%s: reading the body: %v", c.name, err)
		case resp.StatusCode != c.status || c.status != 502 && string(b) != c.body:
			t.Errorf("%s: %d %q, want %d %q", c.name, resp.StatusCode, b, c.status, c.body)
		case len(resp.Trailer) != 0:
			t.Errorf("%s: the client got trailers %v", c.name, resp.Trailer)
		case len(resp.Header.Values("X-Request-Id")) != 1 || resp.Header.Get("X-Request-Id") == "evil":
			t.Errorf("%s: X-Request-Id %q, want the sidecar's once", c.name, resp.Header.Values("X-Request-Id"))
		}
		io.WriteString(conn, "GET /v1/users/clean HTTP/1.1\r\n"+k)
		next, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: the next request: %v", c.name, err)
		}
		nb, _ := io.ReadAll(next.Body)
		if next.StatusCode != 200 || string(nb) != "clean" {
			t.Errorf("%s: the next request got %d %q, want 200 clean", c.name, next.StatusCode, nb)
		}
		conn.Close()
	}
}

// TestFailedBodyAfterServedRequestNamesNoCaller: on a connection whose
// first request an acme key's upload was served (chunked past 16 KiB, so
// the check before the body kept its caller's names on the connection;
// or with Expect), a second request without a credential whose body
// then fails (a chunk size that is not hex, a declared body cut by the
// client's close) is audited with no client and no tenant: nothing of
// the first request's caller is carried onto it.
func TestFailedBodyAfterServedRequestNamesNoCaller(t *testing.T) {
	t.Parallel()
	st, _ := startRecorded(t, nil)
	big := strings.Repeat("x", 20000)
	firsts := []string{
		"POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n4e20\r\n" + big + "\r\n0\r\n\r\n",
		"POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 20000\r\n\r\n" + big,
	}
	seconds := []struct {
		name, req string
		cut       bool
	}{
		{"chunk size not hex", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: %s\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false},
		{"chunked past 16 KiB, then not hex", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: %s\r\nTransfer-Encoding: chunked\r\n\r\n4e20\r\n" + big + "\r\nzz\r\n", false},
		{"declared body cut", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: %s\r\nContent-Length: 10\r\n\r\nabc", true},
	}
	for i, first := range firsts {
		for j, second := range seconds {
			id := "held801-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, first)
			br := bufio.NewReader(c)
			r1, err := http.ReadResponse(br, nil)
			if err != nil || r1.StatusCode != 200 {
				t.Fatalf("%s: the first request: %v %v", id, r1, err)
			}
			io.ReadAll(r1.Body)
			io.WriteString(c, strings.Replace(second.req, "%s", id, 1))
			if second.cut {
				c.(*net.TCPConn).CloseWrite()
			}
			r2, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s (%s): %v", id, second.name, err)
			}
			c.Close()
			rec := st.sink.withRequestID(t, id)
			if rec.Client != "" || rec.Tenant != "" || len(rec.KeyID()) != 0 {
				t.Errorf("%s (%s): %d audited client %q tenant %q key %q, want none", id, second.name, r2.StatusCode, rec.Client, rec.Tenant, rec.KeyID())
			}
		}
	}
}

// TestUpstreamConnectionListBounded: a response whose Connection lines
// list more than maxConnectionNames names is a 502, as such a request is
// a 400: the sidecar removes each name listed, and matching every header
// against the whole list, then deleting each named one in a pass over
// the header, was quadratic, so a service answering 1,200 headers all
// listed in its Connection line cost the sidecar some 25 ms of CPU a
// response, 17 times one that listed none (attack801). Up to the bound,
// the names listed are removed and the answer goes on.
func TestUpstreamConnectionListBounded(t *testing.T) {
	t.Parallel()
	up := startScripted(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	answer := func(n int) string {
		var head, list strings.Builder
		head.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
		for i := range n {
			name := "X-Hop-" + strconv.Itoa(i)
			head.WriteString(name + ": v\r\n")
			if i > 0 {
				list.WriteString(", ")
			}
			list.WriteString(name)
		}
		return head.String() + "Connection: " + list.String() + "\r\n\r\nok"
	}
	up.script.Store(answer(maxConnectionNames))
	r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 200 || r.body != "ok" {
		t.Fatalf("%d names listed: %d %q, want 200 ok", maxConnectionNames, r.status, r.body)
	}
	for name := range r.header {
		if strings.HasPrefix(name, "X-Hop-") {
			t.Errorf("%d names listed: the client got %s", maxConnectionNames, name)
		}
	}
	up.script.Store(answer(maxConnectionNames + 1))
	r = do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 502 || r.errorBody(t).Error != "upstream_error" {
		t.Fatalf("%d names listed: %d %q, want 502 upstream_error", maxConnectionNames+1, r.status, r.body)
	}
}
