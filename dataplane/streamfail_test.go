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

// Finding (review51): a streamed response whose body broke off before a
// byte of it reached the client (the service closing or stalling after
// its head, or before fasthttp's 4 KiB write buffer first filled) was
// audited with the service's status, 200, and decision upstream_error,
// where the client got nothing but a cut connection. The record must say
// what the client got: a 502 (504 for a stall) when the body failed
// before its first byte came, the sidecar's own answer; no status and no
// bytes when the connection was cut before anything was written. A body
// cut after its first chunk reached the client stays 200 upstream_error.
func TestStreamBrokenBeforeFirstByteAuditedAsSent(t *testing.T) {
	t.Parallel()
	long := strconv.Itoa(4 * streamAbove)
	cases := []struct {
		name, version, response string
		stall                   bool
		status                  int // what the client must get, 0: nothing
		decision                audit.Decision
	}{
		{"chunked, closed after the head", "HTTP/1.1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 502, audit.UpstreamError},
		{"chunked to HTTP/1.0, closed after the head", "HTTP/1.0", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 502, audit.UpstreamError},
		{"long, closed after the head", "HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: " + long + "\r\n\r\n", false, 502, audit.UpstreamError},
		{"long, stalled after the head", "HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: " + long + "\r\n\r\n", true, 504, audit.UpstreamTimeout},
		{"long, closed within the first 4 KiB", "HTTP/1.1", "HTTP/1.1 200 OK\r\nContent-Length: " + long + "\r\n\r\n" + strings.Repeat("p", 1000), false, 0, audit.UpstreamError},
		{"chunked, closed after a chunk", "HTTP/1.1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", false, 200, audit.UpstreamError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stalled := make(chan struct{})
			t.Cleanup(func() { close(stalled) })
			up := startStreamUpstream(t, func(c net.Conn) error {
				io.WriteString(c, tc.response)
				if tc.stall {
					<-stalled
				}
				return io.EOF // closes
			})
			st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, 300*time.Millisecond })
			got := rawAll(t, st.addr, "GET /v1/status "+tc.version+"\r\nHost: svc\r\nConnection: close\r\n\r\n", 20*time.Second)
			status := 0
			if line, _, _ := strings.Cut(got, "\r\n"); len(line) >= 12 && strings.HasPrefix(line, "HTTP/1.") {
				status, _ = strconv.Atoi(line[9:12])
			}
			rec := st.sink.waitLast(t, tc.name)
			if status != tc.status || int(rec.Status) != status || rec.Decision != tc.decision {
				t.Errorf("the client got status %d (%d bytes); audited status %d, decision %v, bytes_out %d; want the client and the record %d, %v",
					status, len(got), rec.Status, rec.Decision, rec.BytesOut, tc.status, tc.decision)
			}
			if len(got) == 0 && rec.BytesOut != 0 {
				t.Errorf("the client got nothing; audited bytes_out %d, want 0", rec.BytesOut)
			}
		})
	}
}
