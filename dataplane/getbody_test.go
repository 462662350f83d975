package dataplane

// Content on a GET (HEAD, DELETE, OPTIONS, TRACE) over loopback TCP, in
// front of an upstream that, like many frameworks, never reads the body of
// a GET: it parses the next request from where the GET's head ended.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// headOnly is one request head the naive upstream parsed.
type headOnly struct {
	method, target string
	header         map[string]string // lower-case names, last value
	conn           int               // which upstream connection it came on
}

// naiveUpstream answers every request head it parses with 200 "ok" and
// reads the content only of methods it expects content on (Content-Length
// only): a GET's, HEAD's, DELETE's or OPTIONS' body is left in its buffer
// and read as the next request. After a request with "Connection: close"
// it answers, stops parsing, and reads whatever is left (rest) until the
// sidecar closes.
type naiveUpstream struct {
	addr  string
	mu    sync.Mutex // guards the fields below
	heads []headOnly
	rest  map[int]string // per connection: bytes read after a Connection: close
	ended map[int]bool   // per connection: the sidecar closed it
	conns int
}

func startNaiveUpstream(t testing.TB) *naiveUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &naiveUpstream{addr: ln.Addr().String(), rest: map[int]string{}, ended: map[int]bool{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.conns++
			id := u.conns
			u.mu.Unlock()
			go u.serve(c, id)
		}
	}()
	return u
}

func (u *naiveUpstream) serve(c net.Conn, id int) {
	defer func() {
		c.Close()
		u.mu.Lock()
		u.ended[id] = true
		u.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue // an empty line before a request line
		}
		h := headOnly{header: map[string]string{}, conn: id}
		if len(f) == 3 {
			h.method, h.target = f[0], f[1]
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				break
			}
			if k, v, ok := strings.Cut(l, ":"); ok {
				h.header[strings.ToLower(k)] = strings.TrimSpace(v)
			}
		}
		u.mu.Lock()
		u.heads = append(u.heads, h)
		u.mu.Unlock()
		switch h.method {
		case "GET", "HEAD", "DELETE", "OPTIONS", "TRACE":
		default:
			n, _ := strconv.Atoi(h.header["content-length"])
			io.CopyN(io.Discard, br, int64(n))
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
		if strings.EqualFold(h.header["connection"], "close") {
			// Read on to the sidecar's close, so that closing does not
			// reset the connection under a response not yet read.
			c.(*net.TCPConn).CloseWrite()
			b, _ := io.ReadAll(br)
			u.mu.Lock()
			u.rest[id] = string(b)
			u.mu.Unlock()
			return
		}
	}
}

func (u *naiveUpstream) received() []headOnly {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]headOnly(nil), u.heads...)
}

// smuggledAdmin is a request an attacker puts in a GET's body: the
// sidecar's identity headers, forged, on an endpoint its key cannot reach.
const smuggledAdmin = "GET /v1/admin/settings HTTP/1.1\r\nHost: svc\r\n" +
	"X-Portcullis-Tenant: acme\r\nX-Portcullis-Client: acme-admin\r\n" +
	"X-Portcullis-Scopes: admin:settings\r\nX-Portcullis-Auth-Method: api_key\r\n\r\n"

// withGetBody sends method target with the acme-hris key and body, framed
// by Content-Length (or chunked), on a connection kept alive.
func withGetBody(method, target, body string, chunked bool) string {
	head := method + " " + target + " HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	if chunked {
		return head + fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	}
	return head + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

// rawClosed writes request on a new connection, reads the response to
// method and reports whether the sidecar closed the connection after it.
func rawClosed(t testing.TB, addr, method, request string) (reply, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, request)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response to %q: %v", request, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, err == io.EOF
}

// smuggledSeen waits up to a deadline for the upstream to parse the
// smuggled request, and reports it.
func (u *naiveUpstream) smuggledSeen() (headOnly, bool) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, h := range u.received() {
			if h.target == "/v1/admin/settings" {
				return h, true
			}
		}
	}
	return headOnly{}, false
}

// A GET with content went to the upstream with its content: an upstream
// that never reads a GET's body read it as a second request, which the
// sidecar never authenticated nor authorised, carrying forged identity
// headers (CL.0 smuggling; RFC 9110 section 9.3.1). Content on GET, HEAD,
// DELETE, OPTIONS and TRACE is refused: 400 in the JSON error shape,
// audited bad_request, the connection closed, nothing sent upstream.
func TestGetBodyCannotSmuggleARequest(t *testing.T) {
	up := startNaiveUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Routes = append(d.Routes[:len(d.Routes):len(d.Routes)],
			policy.RouteSpec{Method: "HEAD", Path: "/v1/users", Class: "standard", Scopes: []string{"read:users"}},
			policy.RouteSpec{Method: "DELETE", Path: "/v1/records", Class: "standard", Scopes: []string{"write:records"}},
			policy.RouteSpec{Method: "OPTIONS", Path: "/v1/records", Class: "standard", Scopes: []string{"write:records"}})
	})
	for _, c := range []struct {
		name, method, target string
		chunked              bool
	}{
		{"GET with Content-Length", "GET", "/v1/users", false},
		{"GET chunked", "GET", "/v1/users", true},
		{"HEAD with Content-Length", "HEAD", "/v1/users", false},
		{"HEAD chunked", "HEAD", "/v1/users", true},
		{"DELETE with Content-Length", "DELETE", "/v1/records", false},
		{"OPTIONS chunked", "OPTIONS", "/v1/records", true},
	} {
		r, closed := rawClosed(t, st.addr, c.method, withGetBody(c.method, c.target, smuggledAdmin, c.chunked))
		if r.status != 400 {
			if h, ok := up.smuggledSeen(); ok {
				t.Errorf("%s: status %d, and the upstream parsed the body as %s %s as client %q",
					c.name, r.status, h.method, h.target, h.header["x-portcullis-client"])
			} else {
				t.Errorf("%s: status %d, want 400", c.name, r.status)
			}
			continue
		}
		if c.method != "HEAD" { // a HEAD's answer has no body
			r.errorBody(t)
		}
		if !closed {
			t.Errorf("%s: connection kept open after the refusal", c.name)
		}
		if rec := st.sink.last(t); rec.Decision != audit.BadRequest {
			t.Errorf("%s: audited %s, want bad_request", c.name, rec.Decision)
		}
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the upstream got %d requests, want none: %+v", len(got), got)
	}
}

// TRACE has no route (the policy cannot name it): with content or without,
// it never reaches the upstream.
func TestTraceWithBodyNeverForwarded(t *testing.T) {
	up := startNaiveUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	if r := raw(t, st.addr, withGetBody("TRACE", "/v1/users", smuggledAdmin, false)); r.status != 404 {
		t.Errorf("TRACE: status %d, want 404", r.status)
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the upstream got %d requests, want none", len(got))
	}
}

// A GET without content still passes, also one that says so with
// "Content-Length: 0" or sends an empty chunked body, and the upstream
// connection is kept for the next.
func TestGetWithoutContentForwarded(t *testing.T) {
	up := startNaiveUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, req := range []string{
		withGetBody("GET", "/v1/users", "", false),
		"GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n",
		withGetBody("GET", "/v1/users", "", true), // just the last chunk: forwarded as no body
	} {
		io.WriteString(c, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("%q: status %d %q, want 200 from the upstream", req, resp.StatusCode, b)
		}
	}
	got := up.received()
	if len(got) != 3 || got[0].conn != got[1].conn || got[1].conn != got[2].conn {
		t.Fatalf("upstream got %+v: want the three requests, on one kept connection", got)
	}
	for _, h := range got {
		if h.header["connection"] != "" || h.header["content-length"] != "" && h.header["content-length"] != "0" {
			t.Errorf("upstream got Connection %q Content-Length %q for a GET without content", h.header["connection"], h.header["content-length"])
		}
	}
}

// A route with allow_body takes a GET's content (a search endpoint): it
// goes to the upstream with "Connection: close" and the connection ends
// with the response, so an upstream that did not read the body never
// parses it as a next request, and no other request is sent on it.
func TestAllowBodyRouteClosesUpstreamConnection(t *testing.T) {
	up := startNaiveUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Routes = append(d.Routes[:len(d.Routes):len(d.Routes)],
			policy.RouteSpec{Method: "GET", Path: "/v1/search", Class: "standard", Scopes: []string{"read:users"}, AllowBody: true})
	})
	for i, chunked := range []bool{false, true} {
		r := raw(t, st.addr, withGetBody("GET", "/v1/search", smuggledAdmin, chunked))
		if r.status != 200 || r.body != "ok" {
			t.Fatalf("chunked %v: status %d %q, want the upstream's 200", chunked, r.status, r.body)
		}
		// The upstream ends the connection after a Connection: close
		// exchange and reads on to the sidecar's close: wait for it.
		id := i + 1
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			up.mu.Lock()
			ended, rest := up.ended[id], up.rest[id]
			up.mu.Unlock()
			if ended {
				if rest != smuggledAdmin {
					t.Errorf("chunked %v: the upstream read %q after the request, want the body", chunked, rest)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("chunked %v: the sidecar kept upstream connection %d open after the exchange", chunked, id)
			}
		}
		got := up.received()
		if len(got) != i+1 {
			t.Fatalf("chunked %v: upstream parsed %+v", chunked, got)
		}
		if h := got[i]; h.target != "/v1/search" || h.conn != id || !strings.EqualFold(h.header["connection"], "close") ||
			h.header["content-length"] != strconv.Itoa(len(smuggledAdmin)) || h.header["x-portcullis-client"] != "acme-hris" {
			t.Errorf("chunked %v: upstream got %+v, want the search with its content and Connection: close", chunked, h)
		}
	}
	// The next request goes on a new connection.
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if got := up.received(); len(got) != 3 || got[2].conn != 3 {
		t.Errorf("upstream got %+v: want the next request on a third connection", got)
	}
}

// A GET, HEAD, DELETE or OPTIONS with content and "Expect: 100-continue"
// on a route without allow_body gets its 400 at once: no 100 Continue, so
// the client never sends the body, and the connection is closed. The
// expect hook checked the route and the credential but not the method's
// content rule, so the sidecar answered 100, read the body, and only then
// refused it. A route with allow_body still gets its 100.
func TestExpectContentRefusedBeforeContinue(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
			policy.RouteSpec{Method: "DELETE", Path: "/v1/things", Class: "standard", Public: true},
			policy.RouteSpec{Method: "OPTIONS", Path: "/v1/things", Class: "standard", Public: true},
			policy.RouteSpec{Method: "HEAD", Path: "/v1/things", Class: "standard", Public: true},
			policy.RouteSpec{Method: "GET", Path: "/v1/search", Class: "standard", Public: true, AllowBody: true})
	})
	first := func(req string) (status int, closed bool) {
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 100 {
			return 100, false
		}
		io.Copy(io.Discard, resp.Body)
		_, err = br.ReadByte()
		return resp.StatusCode, err == io.EOF
	}
	for _, c := range []struct{ method, target, extra string }{
		{"GET", "/v1/status", "Content-Length: 5\r\n"},
		{"GET", "/v1/users", "X-API-Key: " + hrisKey + "\r\nContent-Length: 5\r\n"},
		{"GET", "/v1/users", "X-API-Key: " + hrisKey + "\r\nContent-Length: 20000\r\n"},
		{"GET", "/v1/users", "X-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n"},
		{"DELETE", "/v1/things", "Content-Length: 5\r\n"},
		{"OPTIONS", "/v1/things", "Content-Length: 5\r\n"},
		{"HEAD", "/v1/things", "Content-Length: 5\r\n"},
	} {
		n, recs := len(up.received()), len(st.sink.all())
		req := c.method + " " + c.target + " HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\n" + c.extra + "\r\n"
		status, closed := first(req)
		if status != 400 || !closed {
			t.Errorf("%s %s %q: first answer %d (connection closed %v), want 400 and closed", c.method, c.target, c.extra, status, closed)
		}
		if all := st.sink.all(); len(all) != recs+1 || all[recs].Decision != audit.BadRequest {
			t.Errorf("%s %s %q: %d new audit records, want one bad_request", c.method, c.target, c.extra, len(all)-recs)
		}
		if got := up.received(); len(got) != n {
			t.Errorf("%s %s: the service received %d requests, want none", c.method, c.target, len(got)-n)
		}
	}
	// Without Expect, a declared body too large to read unchecked is
	// refused from the headers too: the 400 comes before it is sent.
	if status, closed := first("GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 20000\r\n\r\n"); status != 400 || !closed {
		t.Errorf("GET with a 20000-byte body unsent: first answer %d (connection closed %v), want 400 and closed", status, closed)
	}
	if status, _ := first("GET /v1/search HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"); status != 100 {
		t.Errorf("allow_body route: first answer %d, want 100", status)
	}
}
