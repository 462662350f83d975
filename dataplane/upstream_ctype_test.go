package dataplane

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestResponseGetsNoContentTypeAdded checks over sockets that a response
// the service sent without Content-Type reaches the client without one,
// read whole, streamed or chunked. The server is set not to add one
// (NoDefaultContentType), but roundTrip's Response.Reset turned that off
// for every forwarded response, and fasthttp wrote "Content-Type:
// text/plain; charset=utf-8" before a body the service had not labelled:
// a client that honours the charset read a binary body as text (found by
// an outside review).
func TestResponseGetsNoContentTypeAdded(t *testing.T) {
	bodies := map[string]string{
		"/whole":    "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nupstream ok",
		"/streamed": "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat("x", 70000),
		"/chunked":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"/typed":    "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 2\r\n\r\nok",
	}
	up := startRawUpstream(t, func(r *http.Request) []byte {
		return []byte(bodies[r.URL.Query().Get("r")])
	})
	st := startStack(t, func(c *Config) { c.Upstream = up })
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, p := range []string{"/whole", "/streamed", "/chunked", "/typed"} {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("GET /v1/users/1?r=" + p + " HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var n int64
		for b := make([]byte, 4096); ; {
			k, err := resp.Body.Read(b)
			n += int64(k)
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		want := ""
		if p == "/typed" {
			want = "application/pdf"
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want {
			t.Errorf("%s: status %d, Content-Type %q (%d body bytes); want 200 and %q", p, resp.StatusCode, resp.Header.Values("Content-Type"), n, want)
		}
	}
}
