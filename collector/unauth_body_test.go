package collector

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// A request that does not authenticate is answered and its connection
// closed, whatever body it declared and did not send: net/http reads what
// is left of a body under 256 KiB before it closes a connection, and
// without a deadline of its own that read waited the read timeout (1 min)
// on a client that never sent it, which so held an unauthenticated
// connection twelve times UnauthTimeout (the 5 s docs/audit.md gives it).
func TestUnauthenticatedDeclaredBodyDoesNotHoldConnection(t *testing.T) {
	t.Parallel()
	srv, _ := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{UnauthTimeout: 200 * time.Millisecond})
	for _, req := range []string{
		"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: " + FormatJSON + "\r\nAuthorization: Bearer wrong\r\nContent-Length: 200000\r\n\r\n",
		"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: " + FormatJSON + "\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
		"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
		fmt.Sprintf("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n", aliceToken),
	} {
		c := dialRaw(t, srv.URL)
		io.WriteString(c, req)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		io.Copy(io.Discard, resp.Body)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := br.ReadByte(); err == nil || isTimeout(err) {
			t.Errorf("%q: answered %d, then the connection stayed open waiting for the body it declared: %v", req, resp.StatusCode, err)
		}
	}
}
