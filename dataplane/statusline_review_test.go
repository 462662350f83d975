package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startClosingUpstream is a raw upstream that answers the i-th request
// (its query's i) with answers[i] and then closes the connection, so a
// body without a length ends.
func startClosingUpstream(t *testing.T, answers []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				i, _ := strconv.Atoi(req.URL.Query().Get("i"))
				io.WriteString(c, answers[i])
			}()
		}
	}()
	return ln.Addr().String()
}

// fasthttp's server writes the status line with the protocol of the
// response it holds, which the sidecar read from the service: an
// "HTTP/1.0" service's answer reached an HTTP/1.1 client as "HTTP/1.0
// 200 OK" beside the sidecar's own "Transfer-Encoding: chunked" (a body
// delimited by the close is streamed chunked), framing that RFC 9112
// section 6.1 makes a recipient treat as faulty (a client or proxy that
// follows it reads the chunk sizes as the body, to the close), and
// "HTTP/9.9" or "HTTP/2.0" went on as they came over an HTTP/1.1
// connection. An intermediary sends its own version (RFC 9110 section
// 2.5): the client now gets HTTP/1.1, and a service answering in another
// version than 1.0 or 1.1 is a 502, as such a request is a 400
// (TestOnlyHTTP1Versions).
func TestUpstreamVersionNotForwarded(t *testing.T) {
	t.Parallel()
	answers := []string{
		"HTTP/1.0 200 OK\r\n\r\nclose-delimited body",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	}
	want := []struct {
		status int
		body   string
	}{{200, "close-delimited body"}, {200, "ok"}, {502, ""}, {502, ""}}
	up := startClosingUpstream(t, answers)
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, time.Minute })
	for i := range answers {
		got := rawAll(t, st.addr, "GET /v1/status?i="+strconv.Itoa(i)+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n", 20*time.Second)
		prefix := "HTTP/1.1 " + strconv.Itoa(want[i].status) + " "
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("service answered %q: the client got %q, want a status line starting %q", answers[i], got, prefix)
			continue
		}
		if want[i].body == "" {
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
		if err != nil {
			t.Fatalf("%q: %v", got, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want[i].body {
			t.Errorf("service answered %q: the client read the body %q, want %q", answers[i], b, want[i].body)
		}
	}
}
