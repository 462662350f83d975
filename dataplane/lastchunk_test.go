package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Finding (attack811, fixed req805): a chunked response whose first
// chunk is its last (0) followed by a trailer section fasthttp (v1.74.0,
// parseTrailer, isBadTrailer, headerScanner) refuses gave the client a
// cut connection and no status line: firstChunk checked the size line
// only, and the stream read the trailers after the head went out. The
// section is now read and checked before the head is handed on: each
// refusal fasthttp makes is answered 502 upstream_error in the JSON
// error shape, audited so; a section fasthttp takes goes out as an
// empty body.
func TestChunkedLastChunkTrailersRefusedAnswered502(t *testing.T) {
	t.Parallel()
	const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
	cases := []struct {
		name   string
		pieces []string // written one by one, the connection closed after
		status int
		dec    audit.Decision
	}{
		{"Set-Cookie trailer", []string{head + "Set-Cookie: a=b\r\n\r\n"}, 502, audit.UpstreamError},
		{"Content-Length trailer", []string{head + "Content-Length: 5\r\n\r\n"}, 502, audit.UpstreamError},
		{"Content-Type trailer", []string{head + "content-type: text/html\r\n\r\n"}, 502, audit.UpstreamError},
		{"Content-Encoding trailer", []string{head + "Content-Encoding: gzip\r\n\r\n"}, 502, audit.UpstreamError},
		{"Content-Range trailer", []string{head + "Content-Range: bytes 0-1/2\r\n\r\n"}, 502, audit.UpstreamError},
		{"Authorization trailer", []string{head + "Authorization: Bearer x\r\n\r\n"}, 502, audit.UpstreamError},
		{"Connection trailer", []string{head + "Connection: close\r\n\r\n"}, 502, audit.UpstreamError},
		{"Cookie trailer", []string{head + "Cookie: a=b\r\n\r\n"}, 502, audit.UpstreamError},
		{"Expect trailer", []string{head + "Expect: 100-continue\r\n\r\n"}, 502, audit.UpstreamError},
		{"Host trailer", []string{head + "Host: evil\r\n\r\n"}, 502, audit.UpstreamError},
		{"Keep-Alive trailer", []string{head + "Keep-Alive: 5\r\n\r\n"}, 502, audit.UpstreamError},
		{"Location trailer", []string{head + "Location: /x\r\n\r\n"}, 502, audit.UpstreamError},
		{"Max-Forwards trailer", []string{head + "Max-Forwards: 1\r\n\r\n"}, 502, audit.UpstreamError},
		{"Proxy-Connection trailer", []string{head + "Proxy-Connection: close\r\n\r\n"}, 502, audit.UpstreamError},
		{"Proxy-Authenticate trailer", []string{head + "Proxy-Authenticate: Basic\r\n\r\n"}, 502, audit.UpstreamError},
		{"Proxy-Authorization trailer", []string{head + "Proxy-Authorization: Basic x\r\n\r\n"}, 502, audit.UpstreamError},
		{"Range trailer", []string{head + "Range: bytes=0-1\r\n\r\n"}, 502, audit.UpstreamError},
		{"TE trailer", []string{head + "TE: trailers\r\n\r\n"}, 502, audit.UpstreamError},
		{"Trailer trailer", []string{head + "Trailer: X\r\n\r\n"}, 502, audit.UpstreamError},
		{"Transfer-Encoding trailer", []string{head + "Transfer-Encoding: chunked\r\n\r\n"}, 502, audit.UpstreamError},
		{"WWW-Authenticate trailer", []string{head + "WWW-Authenticate: Basic\r\n\r\n"}, 502, audit.UpstreamError},
		{"X-Forwarded-For trailer", []string{head + "X-Forwarded-For: 1.2.3.4\r\n\r\n"}, 502, audit.UpstreamError},
		{"X-Real-IP trailer", []string{head + "X-Real-IP: 1.2.3.4\r\n\r\n"}, 502, audit.UpstreamError},
		{"forbidden name after a good one", []string{head + "X-Sum: 1\r\nSET-COOKIE: a=b\r\n\r\n"}, 502, audit.UpstreamError},
		{"forbidden name, blank before the colon", []string{head + "Set-Cookie : a=b\r\n\r\n"}, 502, audit.UpstreamError},
		{"line without a colon", []string{head + "X-Sum\r\n\r\n"}, 502, audit.UpstreamError},
		{"empty name", []string{head + ": v\r\n\r\n"}, 502, audit.UpstreamError},
		{"name not a token", []string{head + "X@Sum: 1\r\n\r\n"}, 502, audit.UpstreamError},
		{"section starts with a space", []string{head + " X-Sum: 1\r\n\r\n"}, 502, audit.UpstreamError},
		{"control byte in a value", []string{head + "X-Sum: a\x01b\r\n\r\n"}, 502, audit.UpstreamError},
		{"DEL in a value", []string{head + "X-Sum: a\x7fb\r\n\r\n"}, 502, audit.UpstreamError},
		{"bare CR in a value", []string{head + "X-Sum: a\rb\r\n\r\n"}, 502, audit.UpstreamError},
		{"bare LF end", []string{head + "X-Sum: 1\n\n"}, 502, audit.UpstreamError},
		{"bare LF empty line", []string{head + "X-Sum: 1\r\n\n"}, 502, audit.UpstreamError},
		{"bare LF line before the end", []string{head + "X-Sum: 1\n\r\n"}, 502, audit.UpstreamError},
		{"bare LF section", []string{head + "\n"}, 502, audit.UpstreamError},
		{"closed before the section", []string{head}, 502, audit.UpstreamError},
		{"closed within the section", []string{head + "X-Sum: 1\r\n"}, 502, audit.UpstreamError},
		{"section larger than the buffer", []string{head + "X-Sum: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"}, 502, audit.UpstreamError},
		{"forbidden name in a later piece", []string{head + "Set-", "Cookie: a=b\r\n\r\n"}, 502, audit.UpstreamError},
		{"valid: no trailers", []string{head + "\r\n"}, 200, audit.Allowed},
		{"valid: trailers", []string{head + "X-Sum: 1\r\nServer-Timing: db;dur=1\r\n\r\n"}, 200, audit.Allowed},
		{"valid: trailers in pieces", []string{head + "X-Sum: 1\r", "\n\r", "\n"}, 200, audit.Allowed},
		{"valid: tab in a value", []string{head + "X-Sum: a\tb\r\n\r\n"}, 200, audit.Allowed},
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
			if status == 200 && (strings.Contains(got, "X-Sum") || !strings.Contains(got, "Content-Length: 0\r\n")) {
				t.Errorf("the client got %.300q, want an empty body of Content-Length 0 and no trailer (the sidecar drops them)", got)
			}
		})
	}
}

// A chunked response of only its last chunk and a trailer section that
// passes is read whole (lastChunk): the upstream connection goes back to
// the pool and carries the next request, whose answer is its own.
func TestChunkedLastChunkConnectionReused(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	up := acceptEach(t, func(_ int, c net.Conn) {
		defer c.Close()
		conns.Add(1)
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 1\r\n\r\n")
		}
	}).Addr().String()
	st := startStack(t, func(c *Config) { c.Upstream = up })
	for i := range 3 {
		got := rawAll(t, st.addr, "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n", 10*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.Contains(got, "Content-Length: 0\r\n") {
			t.Fatalf("request %d: the client got %.200q, want 200 with an empty body", i, got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the upstream saw %d connections for 3 requests, want 1 (the connection reused)", n)
	}
}
