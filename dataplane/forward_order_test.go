package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// headRecorder is an upstream on loopback that records the header lines
// of each request as they came on the wire, in order, and answers 200 to
// each. It reads past a body of the Content-Length the head declares.
type headRecorder struct {
	addr  string
	heads chan []string
}

func startHeadRecorder(t testing.TB) *headRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &headRecorder{addr: ln.Addr().String(), heads: make(chan []string, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *headRecorder) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var lines []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
			lines = append(lines, strings.TrimSuffix(line, "\r\n"))
		}
		u.heads <- lines[1:] // the request line is not a header line
		for _, l := range lines[1:] {
			if k, v, _ := strings.Cut(l, ":"); strings.EqualFold(k, "content-length") {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				io.CopyN(io.Discard, br, int64(n))
			}
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

// RFC 9110 section 5.3: a proxy must not change the order of the field
// lines of one name. The sidecar removes headers from the forwarded
// request (those a Connection line lists, the credential, forged identity
// headers, the client's X-Request-Id), and fasthttp (v1.74.0, delAllArgs)
// deleted a header by moving its last line into the gap: "Cookie: a=b"
// then "Cookie: c=d" reached the service as c=d then a=b, and a service
// that takes the first of several lines read another one than the client
// meant. Each line the service gets now comes in the order the client
// sent it; the sidecar's own lines come first, after the request line
// (wire), and fasthttp writes Host before the others, as it did.
func TestForwardedHeaderOrder(t *testing.T) {
	up := startHeadRecorder(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	identity := []string{
		"X-Forwarded-For: 127.0.0.1",
		"X-Request-Id: order-1",
		"X-Portcullis-Tenant: acme",
		"X-Portcullis-Client: acme-hris",
		"X-Portcullis-Auth-Method: api_key",
		"X-Portcullis-Key-Id: acmehris1",
		"X-Portcullis-Scopes: read:users write:records",
		"Host: svc",
	}
	cases := []struct {
		name, head string
		want       []string // after identity
	}{
		{"connection-listed, credential, request id",
			"Cookie: a=b\r\nX-Multi: 1\r\nConnection: X-Hop\r\nX-Hop: h\r\nCookie: c=d\r\nX-API-Key: " + hrisKey +
				"\r\nX-Multi: 2\r\nX-Request-Id: order-1\r\nAccept: */*\r\nX-Hop: h2\r\nCookie: e=f\r\nX-Multi: 3\r\n",
			[]string{"Cookie: a=b", "X-Multi: 1", "Cookie: c=d", "X-Multi: 2", "Accept: */*", "Cookie: e=f", "X-Multi: 3"}},
		// Removing a forged header walks the header map: the Cookie lines
		// stay as they came, where walking it as fasthttp's All does folded
		// them into one, written last, "c" unquoted and "e" dropped
		// (TestCookieLinesForwardedAsSent).
		{"forged identity, credential, connection-listed",
			"X-Multi: 1\r\nCookie: a=b\r\nX-Portcullis-Tenant: globex\r\nX-Multi: 2\r\nConnection: X-Hop\r\nCookie: c=\"d\"\r\nX-Hop: h\r\n" +
				"X-API-Key: " + hrisKey + "\r\nX-Request-Id: order-1\r\nX-Multi: 3\r\nx-portcullis-tenant: globex\r\nAccept: */*\r\nCookie: e=\"f\\\\g\"\r\nX-Multi: 4\r\n",
			[]string{"X-Multi: 1", "Cookie: a=b", "X-Multi: 2", "Cookie: c=\"d\"", "X-Multi: 3", "Accept: */*", "Cookie: e=\"f\\\\g\"", "X-Multi: 4"}},
		{"dropped X-Forwarded-Host",
			"Cookie: a=b\r\nX-Forwarded-Host: evil\r\nX-API-Key: " + hrisKey + "\r\nCookie: c=\"d\"; e=f\r\nX-Request-Id: order-1\r\nAccept: */*\r\n",
			[]string{"Cookie: a=b", "Cookie: c=\"d\"; e=f", "Accept: */*"}},
	}
	for _, c := range cases {
		r := raw(t, st.addr, "GET /v1/users HTTP/1.1\r\nHost: svc\r\n"+c.head+"\r\n")
		if r.status != 200 {
			t.Fatalf("%s: got %d %s, want 200", c.name, r.status, r.body)
		}
		got, want := <-up.heads, append(append([]string(nil), identity...), c.want...)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the upstream got the header lines\n\t%s\nwant\n\t%s", c.name, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
}

// delHeader reads fasthttp's header lines through a mirror of their type
// (headerLine); the mirror must match the fasthttp in go.mod, field by
// field, or delHeader falls back to fasthttp's reordering delete.
func TestHeaderLinesLayout(t *testing.T) {
	if !linesOK {
		t.Fatal("fasthttp.RequestHeader's lines are not laid out as headerLine mirrors them: delHeader reorders")
	}
}

// delHeader leaves the lines DelBytes leaves, in the order they came:
// the deletion of a header of one line or several, first, last or in
// between, sent in several spellings, of a header fasthttp keeps outside
// its lines (Host) and of an absent one, as fasthttp renders the head.
func TestDelHeaderKeepsOrder(t *testing.T) {
	sent := []string{"Host: h", "A: 1", "X-Del: 1", "B: 1", "A: 2", "x-del: 2", "Cookie: c=1", "B: 2", "A: 3", "Cookie: c=2", "X-DEL: 3", "Accept: */*"}
	head := "GET / HTTP/1.1\r\n" + strings.Join(sent, "\r\n") + "\r\n\r\n"
	parse := func(t *testing.T) *fasthttp.RequestHeader {
		t.Helper()
		h := new(fasthttp.RequestHeader)
		if err := h.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
			t.Fatal(err)
		}
		return h
	}
	lines := func(h *fasthttp.RequestHeader) []string {
		return strings.Split(strings.TrimSuffix(h.String(), "\r\n\r\n"), "\r\n")[1:]
	}
	for _, del := range []string{"x-del", "A", "b", "cookie", "accept", "HOST", "absent"} {
		h, ref := parse(t), parse(t)
		delHeader(h, []byte(del), &exchange{})
		ref.DelBytes([]byte(del))
		var want []string
		for _, l := range sent {
			name, value, _ := strings.Cut(l, ": ")
			if !strings.EqualFold(name, del) {
				want = append(want, string(fasthttp.AppendNormalizedHeaderKey(nil, name))+": "+value)
			}
		}
		got, same := lines(h), lines(ref)
		if !slices.Equal(got, want) {
			t.Errorf("delHeader %q left\n\t%s\nwant\n\t%s", del, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
		slices.Sort(got)
		slices.Sort(same)
		if !slices.Equal(got, same) {
			t.Errorf("delHeader %q left other lines than DelBytes:\n\t%s\nDelBytes\n\t%s", del, strings.Join(got, "\n\t"), strings.Join(same, "\n\t"))
		}
	}
}

// FuzzDelHeader deletes names in turn from a header block with delHeader
// and with DelBytes: the same lines are left, as fasthttp renders the
// head, and those fasthttp keeps as lines come in the order of the block.
func FuzzDelHeader(f *testing.F) {
	f.Add("Cookie: a=b\r\nX-Multi: 1\r\nX-API-Key: k\r\nCookie: c=d\r\nX-Multi: 2\r\n", "x-api-key\nX-Multi")
	f.Add("A: 1\r\nB: 2\r\nA: 3\r\nUser-Agent: u\r\nContent-Type: t\r\nConnection: keep-alive\r\n", "a\nUSER-AGENT\nconnection\nHost\nabsent")
	f.Fuzz(func(t *testing.T, block, names string) {
		if strings.ContainsAny(strings.ReplaceAll(block, "\r\n", ""), "\r\n") {
			return // a bare CR or LF: scanHeaders refuses it, and fasthttp's raw block then differs from its map
		}
		head := "GET / HTTP/1.1\r\nHost: x\r\n" + block + "\r\n"
		var h, ref, orig fasthttp.RequestHeader
		for _, p := range []*fasthttp.RequestHeader{&h, &ref, &orig} {
			if p.Read(bufio.NewReaderSize(strings.NewReader(head), 64<<10)) != nil {
				return
			}
		}
		var sent []string // the block's lines, as fasthttp names them
		for k, v := range orig.AllInOrder() {
			sent = append(sent, string(k)+": "+string(v))
		}
		lines := func(h *fasthttp.RequestHeader) []string { return strings.Split(h.String(), "\r\n") }
		x := &exchange{}
		for name := range strings.SplitSeq(names, "\n") {
			delHeader(&h, []byte(name), x)
			ref.DelBytes([]byte(name))
			got, same := lines(&h), lines(&ref)
			if kept := keptLines(got); !isSubsequence(kept, sent) {
				t.Fatalf("after deleting %q the lines left\n\t%q\nare not in the order of\n\t%q", name, kept, sent)
			}
			slices.Sort(got)
			slices.Sort(same)
			if !slices.Equal(got, same) {
				t.Fatalf("after deleting %q delHeader left\n\t%q\nDelBytes\n\t%q", name, got, same)
			}
		}
	})
}

// keptLines returns the header lines of a rendered head that fasthttp
// writes from its list of lines, in their order: not the request line, and
// none of the names it keeps apart and writes first or last.
func keptLines(rendered []string) []string {
	var kept []string
	for _, l := range rendered[1:] {
		name, _, ok := strings.Cut(l, ":")
		switch strings.ToLower(name) {
		case "host", "user-agent", "content-type", "content-length", "connection", "transfer-encoding", "trailer":
			continue
		}
		if ok {
			kept = append(kept, l)
		}
	}
	return kept
}

// isSubsequence reports whether every element of sub is in seq, in order.
func isSubsequence(sub, seq []string) bool {
	for _, s := range sub {
		i := slices.Index(seq, s)
		if i < 0 {
			return false
		}
		seq = seq[i+1:]
	}
	return true
}

// TestCookieLinesForwardedAsSent: a chunked request (its trailers are
// looked for in the header map) or one with a forged or dropped header
// (looked for there too) has its Cookie lines forwarded as they came, in
// place. fasthttp's All, which those walks used, collects the cookies
// first, and fasthttp then wrote one Cookie line it rendered from what it
// parsed, last: a quoted value went on unquoted (c="d" as c=d) and a pair
// it could not parse was dropped, so the service read other cookies than
// the client sent.
func TestCookieLinesForwardedAsSent(t *testing.T) {
	up := startHeadRecorder(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	cookies := "Cookie: a=b\r\nX-Multi: 1\r\nCookie: c=\"d\"; sid=\"x\\\"y\"\r\nX-Multi: 2\r\n"
	want := []string{"Cookie: a=b", "X-Multi: 1", "Cookie: c=\"d\"; sid=\"x\\\"y\"", "X-Multi: 2"}
	for _, c := range []struct{ name, req string }{
		{"chunked", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + cookies +
			"Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-Trailer: t\r\n\r\n"},
		{"forged identity", "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nX-Portcullis-Client: acme-admin\r\n" + cookies + "\r\n"},
		{"dropped", "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + cookies + "X-Original-URL: /v1/admin\r\n\r\n"},
	} {
		r := raw(t, st.addr, c.req)
		if r.status != 200 {
			t.Fatalf("%s: got %d %s, want 200", c.name, r.status, r.body)
		}
		var got []string
		for _, l := range <-up.heads {
			if name, _, _ := strings.Cut(l, ":"); name == "Cookie" || name == "X-Multi" {
				got = append(got, l)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the service got\n\t%s\nwant\n\t%s", c.name, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
}

// TestRemovedLinesStayRemovedOnKeepAlive: requests one after another on
// one client connection, in front of one upstream connection, each get
// the lines their client sent and no other. fasthttp reuses a request's
// header lines for the next request on the connection, and delHeader and
// dropTrailers move the lines they remove past the end of that slice: a
// line removed from one request (a trailer, a forged identity header, a
// Connection-listed one, the credential) must not come back in the next.
func TestRemovedLinesStayRemovedOnKeepAlive(t *testing.T) {
	t.Parallel()
	up := startHeadRecorder(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var many []string // as many lines as the first request had, each its own
	for i := range 12 {
		many = append(many, "C"+strconv.Itoa(i)+": "+strconv.Itoa(i))
	}
	for _, r := range []struct {
		req  string
		want []string // the lines but the sidecar's, Host and Content-Length
	}{
		{"POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nX-A: 1\r\nX-Portcullis-Tenant: globex\r\nConnection: X-Hop\r\n" +
			"X-Hop: h\r\nX-Forwarded-Host: evil\r\nX-B: 2\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-A: t\r\nX-Trailer: t\r\nX_Portcullis_Client: c\r\n\r\n",
			[]string{"X-A: 1", "X-B: 2"}},
		{"GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n", nil},
		{"GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + strings.Join(many, "\r\n") + "\r\n\r\n", many},
		{"POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", nil},
	} {
		if _, err := io.WriteString(c, r.req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%q: got %d, want 200", r.req, resp.StatusCode)
		}
		var got []string
		for _, l := range <-up.heads {
			if k, _, _ := strings.Cut(l, ":"); !strings.HasPrefix(k, "X-Portcullis-") &&
				k != "X-Forwarded-For" && k != "X-Request-Id" && k != "Host" && k != "Content-Length" {
				got = append(got, l)
			}
		}
		if !slices.Equal(got, r.want) {
			t.Errorf("%q: the service got %q, want %q", r.req, got, r.want)
		}
	}
}

// TestBarePrefixHeadersRemoved: a header named the prefix alone,
// "X-Portcullis-" or "X-Forwarded-", is one of those names: it went on to
// the service, where one that reads every header of the prefix (or splits
// the name after it) read the client's word as the sidecar's.
func TestBarePrefixHeadersRemoved(t *testing.T) {
	up := startHeadRecorder(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	r := raw(t, st.addr, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+
		"\r\nX-Portcullis-: tenant=globex\r\nx-portcullis-: globex\r\nX-Forwarded-: 203.0.113.9\r\nAccept: */*\r\n\r\n")
	if r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	for _, l := range <-up.heads {
		if strings.Contains(l, "globex") || strings.Contains(l, "203.0.113.9") {
			t.Errorf("the service got %q", l)
		}
	}
}
