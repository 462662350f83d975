package dataplane

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// A chunked request whose trailer section ends otherwise than in CRLF
// CRLF is a prompt 400 in the JSON shape, audited bad_request, with the
// connection closed, and never reaches the service. fasthttp (v1.74.0,
// tryReadTrailer) looks for the section's end at a CRLF CRLF only, so it
// waited for more bytes, the request unanswered, until the read timeout
// (a minute here: the client gives up after 10 s). The section is
// checked whether its bytes came with the head or after it (sent once
// the sidecar has answered 100 Continue, so read after the head).
func TestBareLFTrailerRefusedAtOnce(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, func(c *Config) { c.ReadTimeout = time.Minute })
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n"
	for _, body := range []string{
		"4\r\nbody\r\n0\r\nX-T: y\n\n",
		"4\r\nbody\r\n0\r\nX-T: y\r\n\n",
		"4\r\nbody\r\n0\r\nX-T: y\n\r\n",
		"4\r\nbody\r\n0\r\n\n",
		"4;ext=1\r\nbo\n\r\n0\r\nA: b\r\nX-T: y\n\n",
	} {
		for _, later := range []bool{false, true} {
			n := len(st.sink.all())
			c, r := sendChunked(t, st.addr, head, body, later)
			if r.status != 400 {
				t.Errorf("%q (after 100 Continue: %v): status %d, want 400", body, later, r.status)
				continue
			}
			if e := r.errorBody(t); e.Error != "bad_request" {
				t.Errorf("%q (after 100 Continue: %v): error %q, want bad_request", body, later, e.Error)
			}
			if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
				t.Errorf("%q (after 100 Continue: %v): after the 400 read %q, %v; want the connection closed", body, later, b, err)
			}
			recs := st.sink.all()
			if len(recs) != n+1 || recs[n].Decision != audit.BadRequest {
				t.Errorf("%q (after 100 Continue: %v): %d new audit records, want one bad_request", body, later, len(recs)-n)
			}
		}
	}
	if got := up.received(); len(got) != 0 {
		t.Fatalf("the service received %d requests, want none", len(got))
	}
	// Sections ending in CRLF CRLF pass, bare LF ends of the lines
	// before included (RFC 9112 section 2.2), and so does chunk data
	// holding empty lines of any kind.
	for _, body := range []string{
		"4\r\nbody\r\n0\r\n\r\n",
		"4\r\nbody\r\n0\r\nX-T: y\r\n\r\n",
		"4\r\nbody\r\n0\r\nA: b\nX-T: y\r\n\r\n",
		"6;a=b\r\n" + "\n\n\r\n\r\n" + "\r\n0\r\n\r\n",
		"A\r\n" + "0\r\n\n0\r\n\n\n\n" + "\r\n0\r\n\r\n",
	} {
		for _, later := range []bool{false, true} {
			if _, r := sendChunked(t, st.addr, head, body, later); r.status != 200 {
				t.Errorf("%q (after 100 Continue: %v): status %d, want 200", body, later, r.status)
			}
		}
	}
}

// sendChunked sends head and then body on a new connection to addr, body
// after the sidecar's 100 Continue when later, and returns the
// connection and the answer read from it.
func sendChunked(t *testing.T, addr, head, body string, later bool) (net.Conn, reply) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if later {
		io.WriteString(c, head+"Expect: 100-continue\r\n\r\n")
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("%q: read %q, %v; want 100 Continue", body, line, err)
		}
		if line, err := br.ReadString('\n'); err != nil || line != "\r\n" {
			t.Fatalf("%q: read %q, %v after 100 Continue; want its end", body, line, err)
		}
		io.WriteString(c, body)
	} else {
		io.WriteString(c, head+"\r\n"+body)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q (after 100 Continue: %v): no answer: %v", body, later, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return readerConn{c, br}, reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// readerConn is a connection read through the buffered reader that has
// read from it so far.
type readerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// scanChunked follows body as a connection's reads of step bytes each
// would, and returns whether its trailer section ended badly, whether it
// ended at all, and where (the bytes of body before the next request).
func scanChunked(body []byte, step int) (bad, ended bool, end int) {
	var c conn
	c.chunk = chunkScan{on: true}
	for p := body; len(p) > 0; {
		k := min(step, len(p))
		read := p[:k]
		p = p[k:]
		if c.head.on {
			bad = c.head.feed(read)
		} else if c.chunk.on {
			bad = c.followed(read)
		}
		if bad {
			return true, false, 0
		}
		if !c.head.on && c.head.inTrailer {
			return false, true, len(body) - len(p) - len(c.head.rest)
		}
	}
	return false, false, 0
}

// The chunk scan frames a chunked body as fasthttp does wherever
// fasthttp accepts it with a trailer section ending in CRLF CRLF: it
// finds the section's end where fasthttp stopped reading, and never
// calls it bad; and it reads the same however the reads split the body.
func FuzzChunkScan(f *testing.F) {
	f.Add([]byte("4\r\nbody\r\n0\r\n\r\n"))
	f.Add([]byte("4;a=b\r\nbody\r\n0\r\nX: y\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("4\r\nbody\r\n0\r\nX: y\n\n"))
	f.Add([]byte("A\r\n0\r\n\n0\r\n\n\n\n\r\n000\r\nA: b\nX: y\r\n z\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		bad, ended, end := scanChunked(body, len(body)+1)
		for _, step := range []int{1, 2, 7} {
			if b, e, n := scanChunked(body, step); b != bad || e != ended || n != end {
				t.Fatalf("%q in reads of %d: bad %v, ended %v at %d; at once: %v, %v at %d", body, step, b, e, n, bad, ended, end)
			}
		}
		const head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		br := bufio.NewReaderSize(strings.NewReader(head+string(body)), len(head)+len(body)+16)
		var req fasthttp.Request
		if err := req.ReadLimitBody(br, 1<<16); err != nil { // a bound, or fasthttp allocates a chunk-size line's size
			return
		}
		took := len(body) - br.Buffered()
		if !bytes.HasSuffix(body[:took], []byte("\r\n\r\n")) {
			return // a section ending otherwise, which the sidecar refuses
		}
		if bad || !ended || end != took {
			t.Fatalf("%q: fasthttp read %d bytes; the scan: bad %v, ended %v at %d", body, took, bad, ended, end)
		}
	})
}

// A bare LF end is refused at once also when its request came pipelined
// behind others, in the same read: headScan followed a connection's
// bytes only from the hand-over of the request before, so a head fasthttp
// had buffered by then was never seen, its chunked body not followed,
// and a trailer section ending "\n\n" held the connection until the read
// timeout; a head ending so with nothing after it, until the header
// timeout. The bytes read after the request handed over are followed
// from where it ended (pending).
func TestBareLFTrailerPipelinedRefused(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, func(c *Config) { c.ReadTimeout, c.HeaderTimeout = time.Minute, time.Minute })
	const get = "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	sized := post + "Content-Length: 8\r\n\r\nx\n\ny\r\n\n\n"
	for _, c := range []struct {
		name, in string
		ok       int
	}{
		{"a chunked body behind a GET", get + post + "Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-T: y\n\n", 1},
		{"a chunked body behind a sized body", sized + post + "Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\n", 1},
		{"a chunked body behind a chunked body", post + "Transfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n0\r\nA: b\r\n\r\n" + get + post + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: y\r\n\n", 2},
		{"a head behind two GETs", get + get + "GET /v1/status HTTP/1.1\r\nHost: svc\n\n", 2},
	} {
		n, recs := len(up.received()), len(st.sink.all())
		rs := rawAll(t, st.addr, c.in, 10*time.Second)
		if strings.Count(rs, "HTTP/1.1 200 ") != c.ok || strings.Count(rs, "HTTP/1.1 400 ") != 1 || strings.Count(rs, "HTTP/1.1 ") != c.ok+1 {
			t.Errorf("%s: answers %q, want %d 200 and then one 400, and the connection closed", c.name, rs, c.ok)
		}
		if got := up.received(); len(got) != n+c.ok {
			t.Errorf("%s: the service received %d requests, want %d", c.name, len(got)-n, c.ok)
		}
		if all := st.sink.all(); len(all) != recs+c.ok+1 || all[len(all)-1].Decision != audit.BadRequest {
			t.Errorf("%s: %d new audit records, want %d and a bad_request last", c.name, len(all)-recs, c.ok+1)
		}
	}
	good := sized + post + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nbody\r\n0\r\nX-T: y\r\n\r\n"
	if rs := rawAll(t, st.addr, good, 10*time.Second); strings.Count(rs, "HTTP/1.1 200 ") != 2 || strings.Count(rs, "HTTP/1.1 ") != 2 {
		t.Errorf("a chunked body ending in CRLF CRLF behind a sized body: answers %q, want two 200", rs)
	}
}

// A bare LF trailer section is refused at once also on a sidecar not
// ready yet, and on a connection that had a request answered so: with no
// policy loaded, headerReceived returned before it followed anything, so
// the section waited, unanswered, for the read timeout (a minute here:
// the client gives up after 10 s), and after a 503 to a request with a
// body, where its body ended was not known, so nothing was followed on
// that connection any more, the policy loaded since or not.
func TestBareLFTrailerNotReadyRefusedAtOnce(t *testing.T) {
	t.Parallel()
	unready := &policy.Store{}
	st, up := startRecorded(t, func(c *Config) {
		c.Store, c.ReadTimeout, c.HeaderTimeout = unready, time.Minute, time.Minute
	})
	const bad = "0\r\nX-T: y\n\n"
	c, r := sendChunked(t, st.addr, r36post+"Transfer-Encoding: chunked\r\n", bad, false)
	if r.status != 400 || r.errorBody(t).Error != "bad_request" {
		t.Errorf("not ready, a chunked body ending %q: %d %s, want 400 bad_request", bad, r.status, r.body)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) > 0 {
		t.Errorf("not ready: after the 400 read %q, %v; want the connection closed", b, err)
	}

	conn, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	answer := func(what, req string, want int) {
		t.Helper()
		io.WriteString(conn, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", what, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, want)
		}
	}
	answer("not ready, a request with a body of 1 byte", r36sized("x"), 503)
	unready.Swap(loadExample(t))
	answer("ready, on the same connection, a chunked body ending "+strconv.Quote(bad), r36chunked(bad), 400)
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}
