package serverlog

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestOneLineASecond: past the first, the lines of one second are left
// out and counted in the next line's suppressed field.
func TestOneLineASecond(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	s := New(zerolog.New(&out), func() time.Time { return now }, "collector connection error (net/http; an accept error is retried)")
	l := s.Logger()
	for range 5 {
		l.Print("http: TLS handshake error from 127.0.0.1:1: EOF")
	}
	now = now.Add(time.Second)
	l.Print("http: Accept error: accept tcp 127.0.0.1:4318: accept4: too many open files; retrying in 5ms")
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`{"level":"warn","error":"TLS handshake error from 127.0.0.1:1: EOF","suppressed":0,"message":"collector connection error (net/http; an accept error is retried)"}`,
		`{"level":"warn","error":"Accept error: accept tcp 127.0.0.1:4318: accept4: too many open files; retrying in 5ms","suppressed":4,"message":"collector connection error (net/http; an accept error is retried)"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := s.Errors(); n != 6 {
		t.Fatalf("counted %d errors, want 6", n)
	}
}
