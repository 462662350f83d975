package dataplane

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Finding (req802): a chunked response whose chunk-size lines end in a
// bare LF was streamed: fasthttp (v1.74.0) refuses such a line only when
// the stream reads it, after the service's head went to fasthttp, so the
// client got a cut connection and no status line. The first chunk-size
// line is now read before the head is handed over: ending in a bare LF
// (or the service closing or stalling within it), the client gets the
// sidecar's 502 upstream_error in the JSON error shape (504 for a stall),
// audited so. A later line ending so, after the head was handed over,
// still cuts the connection: the client has the head and the chunks
// before it, and no last chunk (audited 200 upstream_error).
func TestChunkedBareLFSizeLineAnswered502(t *testing.T) {
	t.Parallel()
	const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	cases := []struct {
		name   string
		pieces []string // written one by one, the connection closed after
		status int      // what the client must get
		dec    audit.Decision
	}{
		{"bare LF size lines", []string{head + "5\nhello\n0\n\n"}, 502, audit.UpstreamError},
		{"bare LF after an extension", []string{head + "5;a=b\nhello\r\n0\r\n\r\n"}, 502, audit.UpstreamError},
		{"bare LF last chunk only", []string{head + "0\n\n"}, 502, audit.UpstreamError},
		{"bare LF in a later piece", []string{head + "3c", "\n" + strings.Repeat("x", 60) + "\n0\n\n"}, 502, audit.UpstreamError},
		{"closed within the size line", []string{head + "5\r"}, 502, audit.UpstreamError},
		{"CRLF size lines", []string{head + "5\r\nhello\r\n0\r\n\r\n"}, 200, audit.Allowed},
		{"CRLF first, bare LF later: the cut stays", []string{head + "5\r\nhello\r\n0\n\n"}, 200, audit.UpstreamError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := startStreamUpstream(t, func(c net.Conn) error {
				for _, p := range tc.pieces {
					io.WriteString(c, p)
					time.Sleep(20 * time.Millisecond) // separate segments (not asserted)
				}
				return io.EOF // closes
			})
			st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, 5*time.Second })
			got := rawAll(t, st.addr, "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n", 20*time.Second)
			status := 0
			if line, _, _ := strings.Cut(got, "\r\n"); len(line) >= 12 && strings.HasPrefix(line, "HTTP/1.") {
				status, _ = strconv.Atoi(line[9:12])
			}
			rec := st.sink.waitLast(t, tc.name)
			if status != tc.status || int(rec.Status) != status || rec.Decision != tc.dec {
				t.Errorf("the client got status %d (%q); audited status %d, decision %v; want the client and the record %d, %v",
					status, got, rec.Status, rec.Decision, tc.status, tc.dec)
			}
			if status == 502 && !strings.Contains(got, `"error":"upstream_error"`) {
				t.Errorf("the client got %q, want the JSON error shape with upstream_error", got)
			}
			if tc.dec == audit.UpstreamError && status == 200 && strings.HasSuffix(got, "0\r\n\r\n") {
				t.Errorf("the client got %q, a last chunk the service never sent", got)
			}
		})
	}
}
