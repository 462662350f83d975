package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// TestUpstreamHeadFailuresAnswered (req805) holds that a service's bytes
// that fail before its head is handed to the client are answered by the
// sidecar, never a cut connection without a status line: interim
// responses (too many, a 101, one with a body length, one ending in a bare
// LF, the service closing after one), Content-Length and
// Transfer-Encoding conflicts (both, codings other than chunked alone,
// differing or listed lengths, signs), an HTTP/1.0 head with a
// Transfer-Encoding, a head larger than the read buffer, the service
// closing within the head or before it sent a byte, broken status and
// header lines, and a body that breaks before its first byte. Each is 502
// upstream_error in the JSON error shape, audited so. A head split across
// reads, close-delimited bodies (HTTP/1.0 and HTTP/1.1) and spellings
// fasthttp reads plainly go on. Over real sockets: a raw-TCP service
// writes the pieces one by one and closes.
func TestUpstreamHeadFailuresAnswered(t *testing.T) {
	t.Parallel()
	const ok = "Content-Length: 2\r\n\r\nok"
	big := strings.Repeat("a", 70<<10)
	cases := []struct {
		name   string
		pieces []string
		status int
		dec    audit.Decision
	}{
		{"100 then close", []string{"HTTP/1.1 100 Continue\r\n\r\n"}, 502, audit.UpstreamError},
		{"100 ending in a bare LF", []string{"HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\r\n" + ok}, 502, audit.UpstreamError},
		{"100 with a length", []string{"HTTP/1.1 100 Continue\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n" + ok}, 502, audit.UpstreamError},
		{"100 then closed within the head", []string{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX: y"}, 502, audit.UpstreamError},
		{"9 interims", []string{strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 9) + "HTTP/1.1 200 OK\r\n" + ok}, 502, audit.UpstreamError},
		{"101", []string{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"}, 502, audit.UpstreamError},
		{"Content-Length and chunked", []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, 502, audit.UpstreamError},
		{"TE gzip", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"TE gzip, chunked", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, 502, audit.UpstreamError},
		{"TE chunked, gzip", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"TE identity", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"TE twice", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, 502, audit.UpstreamError},
		{"chunked, body not", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"HTTP/1.0 chunked", []string{"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, 502, audit.UpstreamError},
		{"lengths differing", []string{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"}, 502, audit.UpstreamError},
		{"length listed", []string{"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"length +5", []string{"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"length -1", []string{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"length empty", []string{"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nhello"}, 502, audit.UpstreamError},
		{"length overflowing", []string{"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"closed short of a small length", []string{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"}, 502, audit.UpstreamError},
		{"closed before a streamed body", []string{"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"}, 502, audit.UpstreamError},
		{"head larger than the buffer", []string{"HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\n" + ok}, 502, audit.UpstreamError},
		{"closed before a byte", []string{""}, 502, audit.UpstreamError},
		{"closed within the status line", []string{"HTTP/1.1 200"}, 502, audit.UpstreamError},
		{"closed after the status line", []string{"HTTP/1.1 200 OK\r\n"}, 502, audit.UpstreamError},
		{"closed within a header", []string{"HTTP/1.1 200 OK\r\nX: y"}, 502, audit.UpstreamError},
		{"closed before the empty line", []string{"HTTP/1.1 200 OK\r\nX: y\r\n"}, 502, audit.UpstreamError},
		{"closed after a CR", []string{"HTTP/1.1 200 OK\r\nX: y\r\n\r"}, 502, audit.UpstreamError},
		{"4-digit status", []string{"HTTP/1.1 2000 OK\r\n" + ok}, 502, audit.UpstreamError},
		{"2-digit status", []string{"HTTP/1.1 20 OK\r\n" + ok}, 502, audit.UpstreamError},
		{"HTTP/2.0", []string{"HTTP/2.0 200 OK\r\n" + ok}, 502, audit.UpstreamError},
		{"lower-case version", []string{"http/1.1 200 OK\r\n" + ok}, 502, audit.UpstreamError},
		{"not HTTP", []string{"hello world\r\n\r\n"}, 502, audit.UpstreamError},
		{"line without a colon", []string{"HTTP/1.1 200 OK\r\nXy\r\n" + ok}, 502, audit.UpstreamError},
		{"NUL in a value", []string{"HTTP/1.1 200 OK\r\nX: a\x00b\r\n" + ok}, 502, audit.UpstreamError},
		{"control byte in a value", []string{"HTTP/1.1 200 OK\r\nX: a\x01b\r\n" + ok}, 502, audit.UpstreamError},
		{"bare CR in a value", []string{"HTTP/1.1 200 OK\r\nX: a\rb\r\n" + ok}, 502, audit.UpstreamError},
		{"first header line starts with a space", []string{"HTTP/1.1 200 OK\r\n X: a\r\n" + ok}, 502, audit.UpstreamError},
		{"name not a token", []string{"HTTP/1.1 200 OK\r\nX(y): a\r\n" + ok}, 502, audit.UpstreamError},
		{"empty name", []string{"HTTP/1.1 200 OK\r\n: a\r\n" + ok}, 502, audit.UpstreamError},
		{"Connection listing 500 names", []string{"HTTP/1.1 200 OK\r\nConnection: " + strings.Repeat("a,", 500) + "\r\n" + ok}, 502, audit.UpstreamError},
		{"valid: 103 then 200", []string{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n" + ok}, 200, audit.Allowed},
		{"valid: 100 then a head in pieces", []string{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", "00 OK\r\n" + ok}, 200, audit.Allowed},
		{"valid: head in pieces", []string{"HTTP/1.1 200 OK\r\nContent-", "Length: 2\r\n", "\r\nok"}, 200, audit.Allowed},
		{"valid: HTTP/1.0 close-delimited", []string{"HTTP/1.0 200 OK\r\n\r\nhello"}, 200, audit.Allowed},
		{"valid: HTTP/1.0 close-delimited, empty", []string{"HTTP/1.0 200 OK\r\n\r\n"}, 200, audit.Allowed},
		{"valid: HTTP/1.1 close-delimited", []string{"HTTP/1.1 200 OK\r\n\r\nhello"}, 200, audit.Allowed},
		{"valid: no reason phrase", []string{"HTTP/1.1 200\r\n" + ok}, 200, audit.Allowed},
		{"valid: obs-fold", []string{"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n" + ok}, 200, audit.Allowed},
		{"valid: empty line before the status line", []string{"\r\nHTTP/1.1 200 OK\r\n" + ok}, 200, audit.Allowed},
		{"valid: 204 with bytes after", []string{"HTTP/1.1 204 No Content\r\n\r\nhello"}, 204, audit.Allowed},
		{"valid: 304 with a length", []string{"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"}, 304, audit.Allowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, got, rec := chunkedAnswer(t, tc.pieces)
			if status != tc.status || int(rec.Status) != status || rec.Decision != tc.dec {
				t.Errorf("the client got status %d (%.200q); audited status %d, decision %v; want the client and the record %d, %v",
					status, got, rec.Status, rec.Decision, tc.status, tc.dec)
			}
			if status == 502 && !strings.Contains(got, `"error":"upstream_error"`) {
				t.Errorf("the client got %.200q, want the JSON error shape with upstream_error", got)
			}
		})
	}
}
