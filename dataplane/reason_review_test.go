package dataplane

import (
	"strings"
	"testing"
)

// fasthttp keeps the reason phrase of the service's status line as it
// came, but for CR and LF (spaces), and its server writes it to the
// client: a NUL, an escape sequence or a DEL in it reached the client's
// status line, where RFC 9112 section 4 allows only tabs, spaces, visible
// and obs-text bytes, and a client that logs or prints the status line
// (curl -v, a terminal) ran the escape. fasthttp refuses those bytes in a
// header value; in the reason phrase they are now a 502 too.
func TestUpstreamReasonControlBytesRefused(t *testing.T) {
	t.Parallel()
	answers := []string{
		"HTTP/1.1 200 OK\x00\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 \x1b]0;owned\x07\x1b[2J\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 O\x7fK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 Fine\tby \x80\xff me\r\nContent-Length: 2\r\n\r\nok",
	}
	for i, rs := range throughSidecar(t, answers) {
		want := "HTTP/1.1 502 "
		if i == len(answers)-1 {
			want = "HTTP/1.1 200 Fine\tby \x80\xff me\r\n"
		}
		if !strings.HasPrefix(rs, want) || strings.ContainsAny(rs, "\x00\x1b\x07\x7f") {
			t.Errorf("service answered %q: the client got %q, want %q and no control byte", answers[i], rs, want)
		}
	}
}
