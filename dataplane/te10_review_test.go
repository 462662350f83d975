package dataplane

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fasthttp skips a Transfer-Encoding line in a response of another
// version than HTTP/1.1, so the sidecar's rule for Content-Length beside
// chunked coding (a 502: which framing did the service mean?) never saw
// one in an HTTP/1.0 response, and the body went on framed by a guess: the
// length ("5\r\nhe" of "5\r\nhello\r\n0\r\n\r\n") or the close (the chunk
// sizes as body). RFC 9112 section 6.1 says a recipient of an HTTP/1.0
// message with Transfer-Encoding must treat its framing as faulty, even
// beside a Content-Length: it is now a 502, and the client gets no
// guessed body.
func TestUpstreamHTTP10TransferEncodingRefused(t *testing.T) {
	t.Parallel()
	answers := []string{
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\ntransfer-encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	}
	up := startClosingUpstream(t, answers)
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, time.Minute })
	for i := range answers {
		got := rawAll(t, st.addr, "GET /v1/status?i="+strconv.Itoa(i)+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n", 20*time.Second)
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
		if err != nil {
			t.Fatalf("%q: %v", got, err)
		}
		b, _ := io.ReadAll(resp.Body)
		want, body := 502, ""
		if i == len(answers)-1 {
			want, body = 200, "hello"
		}
		if resp.StatusCode != want || want == 200 && string(b) != body {
			t.Errorf("service answered %q: the client got %d %q, want %d", answers[i], resp.StatusCode, b, want)
		}
	}
}
