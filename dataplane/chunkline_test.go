package dataplane

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
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
			status, got, rec := chunkedAnswer(t, tc.pieces)
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

// Finding (req803): a chunked response whose first chunk-size line was
// malformed otherwise than by ending in a bare LF (no hex digits, a sign
// or a space, more hex digits than fasthttp reads, a broken chunk
// extension, a line longer than the sidecar reads ahead) was handed on
// as the bare LF one was before req802: fasthttp refused it only when
// the stream read it, after the service's head went to fasthttp, and
// the client got a cut connection and no status line. The whole first
// line is now checked before the head is handed over, by RFC 9112
// section 7.1.1 and by what fasthttp's stream reads: each variant is
// answered 502 upstream_error in the JSON error shape, audited so. A
// first chunk declaring more than the class lets a response hold is
// answered as a Content-Length above it is: 502 response_too_large.
func TestChunkedFirstSizeLineMalformedAnswered502(t *testing.T) {
	t.Parallel()
	const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	const rest = "hello\r\n0\r\n\r\n"
	cases := []struct {
		name   string
		pieces []string // written one by one, the connection closed after
		status int
		dec    audit.Decision
	}{
		{"not hex", []string{head + "zz\r\n" + rest}, 502, audit.UpstreamError},
		{"hex then junk", []string{head + "5g\r\n" + rest}, 502, audit.UpstreamError},
		{"empty line", []string{head + "\r\n" + rest}, 502, audit.UpstreamError},
		{"plus sign", []string{head + "+5\r\n" + rest}, 502, audit.UpstreamError},
		{"minus sign", []string{head + "-5\r\n" + rest}, 502, audit.UpstreamError},
		{"0x prefix", []string{head + "0x5\r\n" + rest}, 502, audit.UpstreamError},
		{"leading space", []string{head + " 5\r\n" + rest}, 502, audit.UpstreamError},
		{"space inside", []string{head + "5 5\r\n" + rest}, 502, audit.UpstreamError},
		{"space before the extension", []string{head + "5 ;a=b\r\n" + rest}, 502, audit.UpstreamError},
		{"16 hex digits", []string{head + "0000000000000005\r\n" + rest}, 502, audit.UpstreamError},
		{"overflowing int64", []string{head + "10000000000000000\r\n" + rest}, 502, audit.UpstreamError},
		{"empty extension", []string{head + "5;\r\n" + rest}, 502, audit.UpstreamError},
		{"extension without a name", []string{head + "5;=b\r\n" + rest}, 502, audit.UpstreamError},
		{"extension without a value", []string{head + "5;a=\r\n" + rest}, 502, audit.UpstreamError},
		{"extension name not a token", []string{head + "5;a@b\r\n" + rest}, 502, audit.UpstreamError},
		{"extension value not a token", []string{head + "5;a=b c\r\n" + rest}, 502, audit.UpstreamError},
		{"extension with a control byte", []string{head + "5;a=\x01\r\n" + rest}, 502, audit.UpstreamError},
		{"unterminated quoted value", []string{head + "5;a=\"b\r\n" + rest}, 502, audit.UpstreamError},
		{"bare CR in the line", []string{head + "5;a\rb\r\n" + rest}, 502, audit.UpstreamError},
		{"line too long", []string{head + "5;a=" + strings.Repeat("b", 64<<10) + "\r\n" + rest}, 502, audit.UpstreamError},
		{"malformed across pieces", []string{head + "z", "z\r\n" + rest}, 502, audit.UpstreamError},
		{"above the response limit", []string{head + "fffffffffffffff\r\n" + rest}, 502, audit.ResponseTooLarge},
		{"valid: extensions", []string{head + "5;a;b=c ; d = \"e \\\" f\"\r\n" + rest}, 200, audit.Allowed},
		{"valid: leading zeros, upper case", []string{head + "00000000000000A\r\nhellohello\r\n0\r\n\r\n"}, 200, audit.Allowed},
		{"valid: space after the size", []string{head + "5 \r\n" + rest}, 200, audit.Allowed},
		{"valid: last chunk only", []string{head + "0;a=b\r\n\r\n"}, 200, audit.Allowed},
		{"later malformed line: the cut stays", []string{head + "5\r\nhello\r\nzz\r\n\r\n"}, 200, audit.UpstreamError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, got, rec := chunkedAnswer(t, tc.pieces)
			if status != tc.status || int(rec.Status) != status || rec.Decision != tc.dec {
				t.Errorf("the client got status %d (%.200q); audited status %d, decision %v; want the client and the record %d, %v",
					status, got, rec.Status, rec.Decision, tc.status, tc.dec)
			}
			if status == 502 && !strings.Contains(got, `"error":"`+tc.dec.String()+`"`) {
				t.Errorf("the client got %.200q, want the JSON error shape with %v", got, tc.dec)
			}
		})
	}
}

// chunkedAnswer has a service answer a request through the sidecar with
// pieces, written one by one before it closes, and returns the status
// the client got (0: none), all it got, and the request's audit record.
func chunkedAnswer(t *testing.T, pieces []string) (int, string, audit.Record) {
	t.Helper()
	up := startStreamUpstream(t, func(c net.Conn) error {
		for _, p := range pieces {
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
	return status, got, st.sink.waitLast(t, "the chunked answer")
}

// A first chunk-size line the sidecar passes is one fasthttp's chunked
// reader takes, with the size the line says: else the stream would
// refuse it after the head went out, and the client would get a cut
// connection (TestChunkedFirstSizeLineMalformedAnswered502).
func FuzzFirstChunkLine(f *testing.F) {
	for _, s := range []string{"5\r\n", "0\r\n", "5 \r\n", "5;a=b\r\n", "5;a;b=\"c\\\"d\"\r\n", "a ; b = c \r\n", "5 ;a\r\n", "0000000000000005\r\n", "zz\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		i := bytes.IndexByte(line, '\n')
		if i < 0 {
			return
		}
		line = line[:i+1]
		if _, err := chunkLineOK(line, 1<<16); err != nil {
			return
		}
		digits := bytes.IndexFunc(line, func(r rune) bool { return unhex(byte(r)) < 0 })
		size, err := strconv.ParseInt(string(line[:digits]), 16, 64)
		if err != nil {
			t.Fatalf("%q passed with size %q: %v", line, line[:digits], err)
		}
		body := string(line) + strings.Repeat("x", int(size)) + "\r\n0\r\n\r\n"
		if size == 0 {
			body = string(line) + "\r\n"
		}
		var resp fasthttp.Response
		err = resp.Read(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)))
		if err != nil || int64(len(resp.Body())) != size {
			t.Fatalf("%q passed, size %d; fasthttp read %d bytes: %v", line, size, len(resp.Body()), err)
		}
	})
}
