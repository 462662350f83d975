package audit_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	. "github.com/portcullis/portcullis/audit"
)

// rawCollector answers every request over loopback with a fixed status and
// body, written by hand so that the test decides what the connection does:
// with closeAfter it closes the connection after each answer although the
// answer does not say "Connection: close", as a collector closing an idle
// kept-alive connection looks to the sender.
type rawCollector struct {
	url        string
	status     int
	body       []byte
	closeAfter bool

	mu       sync.Mutex // guards the following fields
	requests int
	auth     []string
	media    []string
}

func newRawCollector(t *testing.T, status int, body []byte, closeAfter bool) *rawCollector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &rawCollector{url: "http://" + ln.Addr().String(), status: status, body: body, closeAfter: closeAfter}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn)
		}
	}()
	return c
}

func (c *rawCollector) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, req.Body)
		c.mu.Lock()
		c.requests++
		c.auth = append(c.auth, req.Header.Get("Authorization"))
		c.media = append(c.media, req.Header.Get("Content-Type")+" "+strconv.FormatInt(n, 10)+"/"+strconv.FormatInt(req.ContentLength, 10))
		c.mu.Unlock()
		head := "HTTP/1.1 " + strconv.Itoa(c.status) + " " + http.StatusText(c.status) + "\r\nContent-Length: " + strconv.Itoa(len(c.body)) + "\r\n\r\n"
		if _, err := conn.Write(append([]byte(head), c.body...)); err != nil || c.closeAfter {
			return
		}
	}
}

func (c *rawCollector) seen() (int, []string, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, append([]string(nil), c.auth...), append([]string(nil), c.media...)
}

// A collector that closes each kept-alive connection after answering
// costs no failed attempt: the batch goes again on a new connection, as
// net/http did (the collector stores a batch id once), so no retry is
// counted and the audit path never reports failing.
func TestEmitterResendsOnClosedKeepAlive(t *testing.T) {
	t.Parallel()
	c := newRawCollector(t, http.StatusOK, nil, true)
	cfg := FastConfig(c.url, t.TempDir())
	cfg.RetryBudget = 0 // the default 2s: a retry would show in the counter, not spool
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 640
	for i := range n {
		r := SampleRecord(i)
		for !e.Emit(&r) {
			WaitFor(t, "a free slot", e.Accepting)
		}
		if i%64 == 63 { // one batch at a time, each on a connection the collector closed
			WaitFor(t, "the batch", func() bool { return e.Stats().Delivered == uint64(i+1) })
		}
	}
	e.Close()
	st := e.Stats()
	if st.Delivered != n || st.Retries != 0 || st.Spooled != 0 {
		t.Errorf("stats %+v, want %d delivered with no retry", st, n)
	}
	if h := e.Health(); !h.LastFailureAt.IsZero() {
		t.Errorf("health %v, want no failure", h)
	}
}

// The bearer token is sent when set; without it, user information in the
// collector URL is sent as basic authentication (as net/http did). Every
// batch carries the OTLP protobuf media type and its length.
func TestEmitterAuthorization(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, token, user, want string
	}{
		{"token", "tok-123", "", "Bearer tok-123"},
		{"token over user info", "tok-123", "u:p@", "Bearer tok-123"},
		{"user info", "", "u:p@", "Basic dTpw"},
		{"none", "", "", ""},
	} {
		c := newRawCollector(t, http.StatusOK, nil, false)
		cfg := FastConfig(strings.Replace(c.url, "http://", "http://"+tc.user, 1), t.TempDir())
		cfg.Token = tc.token
		e, err := NewEmitter(cfg)
		if err != nil {
			t.Fatal(err)
		}
		EmitN(t, e, 10)
		e.Close()
		n, auth, media := c.seen()
		if n != 1 || auth[0] != tc.want {
			t.Errorf("%s: %d requests with Authorization %q, want 1 with %q", tc.name, n, auth, tc.want)
		}
		if n == 1 && !strings.HasPrefix(media[0], "application/x-protobuf ") || strings.Contains(media[0], "/-1") {
			t.Errorf("%s: Content-Type, body/Content-Length %q, want application/x-protobuf with a length", tc.name, media)
		}
	}
}

// A rejection whose answer is longer than the emitter reads still counts
// as a rejection by its status: the batch is dropped and counted, not
// retried as if the collector were unreachable.
func TestEmitterLongRejection(t *testing.T) {
	t.Parallel()
	c := newRawCollector(t, http.StatusBadRequest, []byte(strings.Repeat("x", 1<<20)), false)
	e, err := NewEmitter(FastConfig(c.url, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 10)
	e.Close()
	if st := e.Stats(); st.Rejected != 10 || st.Retries != 0 {
		t.Errorf("stats %+v, want 10 rejected, no retry", st)
	}
	if h := e.Health(); !strings.HasPrefix(h.LastFailure, FailRejected+": 400") {
		t.Errorf("last failure %q, want the rejection with its status", h.LastFailure)
	}
}

// A collector URL the emitter cannot post to is refused when it starts,
// naming the URL without its password.
func TestEmitterBadURL(t *testing.T) {
	for _, u := range []string{"ftp://u:secret@h/x", "collector:4318", "http://"} {
		_, err := NewEmitter(EmitterConfig{URL: u})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("NewEmitter(%q) = %v, want an error without the password", u, err)
		}
	}
}
