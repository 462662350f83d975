package dataplane

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// recordConn is a connection that keeps what is written to it.
type recordConn struct {
	net.Conn
	got bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) { return c.got.Write(p) }

// A first flush without a CRLF-terminated request line is refused with
// errRequestLine and nothing reaches the connection: a request is never
// sent without the sidecar's identity lines, whatever the writer hands
// over (fasthttp writes the head in one piece, so only a hand-fed writer
// gets here).
func TestWireNoRequestLine(t *testing.T) {
	for _, first := range []string{"GET / HTTP/1.1", "GET / HTTP/1.1\nHost: x\n\n", "\r\nHost: x\r\n\r\n", "\n"} {
		c := &recordConn{}
		w := wire{lines: []byte("X-Portcullis-Tenant: acme\r\n")}
		bw := w.start(c)
		bw.WriteString(first)
		err := bw.Flush()
		w.release()
		if !errors.Is(err, errRequestLine) {
			t.Errorf("first flush %q: error %v, want errRequestLine", first, err)
		}
		if c.got.Len() != 0 {
			t.Errorf("first flush %q: %q reached the connection", first, c.got.Bytes())
		}
	}
	// The same bytes with a request line go out with the lines after it.
	c := &recordConn{}
	w := wire{lines: []byte("X-Portcullis-Tenant: acme\r\n")}
	bw := w.start(c)
	bw.WriteString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	w.release()
	if want := "GET / HTTP/1.1\r\nX-Portcullis-Tenant: acme\r\nHost: x\r\n\r\n"; c.got.String() != want {
		t.Fatalf("sent %q, want %q", c.got.String(), want)
	}
}

// A splice buffer grown past wireKeep by a large head is left to the
// garbage collector, not pooled: one request with a 40 KiB head must not
// make every later rendering hold 40 KiB.
func TestWireGrownBufferNotPooled(t *testing.T) {
	req := new(fasthttp.Request)
	req.SetRequestURI("/v1/users/42")
	req.Header.SetHost("upstream")
	req.Header.Set("X-Pad", strings.Repeat("p", 40<<10))
	var w wire
	if got := w.encode(req); len(got) <= wireKeep {
		t.Fatalf("encode = %d bytes, want the whole head over wireKeep %d", len(got), wireKeep)
	}
	grown := w.b
	w.release()
	for range 8 { // the pool hands the last one put back first (same P)
		b := wireBufs.Get().(*wireBuf)
		if b == grown || cap(b.out) > wireKeep {
			t.Fatalf("the pool handed back a splice buffer of %d bytes (wireKeep %d)", cap(b.out), wireKeep)
		}
		defer wireBufs.Put(b)
	}
}

// An upstream response head whose empty line is not CRLF CRLF ("\n\n",
// "\r\n\n", "\n\r\n") is a prompt 502. fasthttp (v1.74.0) reads a
// response head only once a CRLF CRLF is somewhere in its buffer, so such
// a response held the request, its concurrency slot and the upstream
// connection until the upstream timeout (a minute here; the client gives
// up well before), unless the body happened to hold a CRLF CRLF. Bare LF
// ends of the lines before a CRLF CRLF still pass.
func TestUpstreamBareLFHeadFailsAtOnce(t *testing.T) {
	t.Parallel()
	answers := []string{
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\nok",
		"HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\nX-A: 1\r\nContent-Length: 2\r\n\r\nok",
	}
	for i, rs := range throughSidecar(t, answers) {
		want := 502
		if i == len(answers)-1 {
			want = 200
		}
		if !strings.HasPrefix(rs, "HTTP/1.1 "+strconv.Itoa(want)+" ") {
			t.Errorf("%q: the client got %q, want %d", answers[i], rs, want)
		}
	}
}

// throughSidecar has a raw upstream send each of answers, in turn, to a
// request through a sidecar (upstream timeout one minute), and returns
// what the client got for each.
func throughSidecar(t *testing.T, answers []string) []string {
	t.Helper()
	up := startRawUpstream(t, func(r *http.Request) []byte {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		return []byte(answers[i])
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, time.Minute })
	got := make([]string, len(answers))
	for i := range answers {
		got[i] = rawAll(t, st.addr, "GET /v1/status?i="+strconv.Itoa(i)+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n", 20*time.Second)
	}
	return got
}

// fasthttp keeps a response header whose name has a space inside, and
// wrote it to the client as it came: a client or proxy that splits the
// name at the space, or drops the line, would read other headers than the
// ones the sidecar checked and scrubbed. Such an answer is now a 502; a
// space before the colon, which fasthttp trims, is still accepted.
func TestUpstreamHeaderNameWithSpaceRefused(t *testing.T) {
	t.Parallel()
	answers := []string{
		"HTTP/1.1 200 OK\r\nX-Auth User: admin\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nSet Cookie: sid=1\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Trailing : 1\r\n\r\nok",
	}
	for i, rs := range throughSidecar(t, answers) {
		want := "HTTP/1.1 502 "
		if i == len(answers)-1 {
			want = "HTTP/1.1 200 "
		}
		if !strings.HasPrefix(rs, want) || strings.Contains(rs, " User:") || strings.Contains(rs, "Set Cookie") {
			t.Errorf("%q: the client got %q, want %q and no spaced name", answers[i], rs, want)
		}
	}
}
