package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// A chunked response whose service closes the connection between two
// chunks, before the last chunk, is cut short, and the client must see
// the break: chunked coding exists to show it. fasthttp's body stream
// reads the end of the connection where a chunk size should be as the end
// of the body (io.EOF, not an error), so the sidecar ended its own chunked
// answer with a last chunk and kept the connection: an HTTP/1.1 client
// took "hello" for the whole of a body the service broke off, a cache in
// front would store it, and the audit record said allowed. The answer now
// ends without its last chunk and the connection is closed, audited
// upstream_error; for an HTTP/1.0 client, whose body ends with the close
// whatever happens, the record says so.
func TestChunkedBodyCutBetweenChunksShowsTheBreak(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"HTTP/1.1", "HTTP/1.0"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			up := startStreamUpstream(t, func(c net.Conn) error {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
				return io.EOF // closes: the last chunk never comes
			})
			st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, time.Minute })
			got := rawAll(t, st.addr, "GET /v1/status "+version+"\r\nHost: svc\r\nConnection: close\r\n\r\n", 20*time.Second)
			if version == "HTTP/1.1" {
				resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
				if err != nil {
					t.Fatalf("%q: %v", got, err)
				}
				if b, err := io.ReadAll(resp.Body); err == nil {
					t.Errorf("the client read the cut body %q as complete, want an unexpected end (got %q)", b, got)
				}
			}
			if rec := st.sink.waitLast(t, "the cut stream"); rec.Decision != audit.UpstreamError {
				t.Errorf("decision %v, want %v", rec.Decision, audit.UpstreamError)
			}
		})
	}
}
