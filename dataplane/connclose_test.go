package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Finding (read93): a client's "close" connection option ended its
// connection only when its Connection line was exactly "close": fasthttp
// heeds no other spelling (the upstream side had the same fault,
// TestUpstreamConnectionCloseAnySpelling). "Connection: Close", "close,
// x-a" or a "close" line followed by a "keep-alive" one left the
// connection open, and the sidecar read, decided and forwarded a request
// pipelined after it, where RFC 9112 section 9.6 says a server "MUST NOT
// process any further requests received on that connection": a proxy in
// front that reads the option as the end of the connection no longer
// agrees with the sidecar on which bytes are a request.

// TestClientConnectionCloseAnySpelling sends, over a real socket, a
// request whose Connection lines list "close" in other spellings, each
// followed by a pipelined request: the first is answered with
// "Connection: close", the connection then ends, and the second reaches
// neither the sidecar's decision nor the upstream. Refused requests
// (401) end it too.
func TestClientConnectionCloseAnySpelling(t *testing.T) {
	st, rec := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	const next = "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"
	for i, c := range []struct {
		conn, key string
		status    int
	}{
		{"Connection: Close\r\n", hrisKey, 200},
		{"Connection: CLOSE\r\n", hrisKey, 200},
		{"Connection: close, x-a\r\n", hrisKey, 200},
		{"Connection: x-a , Close\r\n", hrisKey, 200},
		{"Connection: close\r\nConnection: keep-alive\r\n", hrisKey, 200},
		{"Connection: Close\r\n", "pk_nobody1_NoSuchSecret0000000000000000000000001", 401},
		{"Connection: Close\r\n", hrisKey, 200}, // answered by a streamed body (rec.respond below)
	} {
		if i == 6 {
			// A body of unknown length is streamed (stream.go), its
			// answer handed to fasthttp before the body is out.
			rec.respond = func(w io.Writer, _ *http.Request) {
				io.WriteString(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
			}
		}
		n := len(rec.received())
		conn, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+c.key+"\r\n"+c.conn+"\r\n"+next)
		br := bufio.NewReader(conn)
		what := strings.ReplaceAll(c.conn, "\r\n", " ")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !resp.Close {
			t.Errorf("%s: %d, Connection %q; want %d and close", what, resp.StatusCode, resp.Header.Get("Connection"), c.status)
		}
		if second, err := http.ReadResponse(br, nil); err == nil {
			t.Errorf("%s: the pipelined request after it was answered %d; want the connection closed", what, second.StatusCode)
		}
		conn.Close()
		want := 1
		if c.status != 200 {
			want = 0
		}
		if got := len(rec.received()) - n; got != want {
			t.Errorf("%s: the upstream got %d requests, want %d", what, got, want)
		}
	}
}
