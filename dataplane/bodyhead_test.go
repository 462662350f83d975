package dataplane

import (
	"strings"
	"testing"
	"time"
)

// A body is never followed as a head. A request whose head fasthttp had
// buffered unseen (read with the end of a Content-Length body that took
// more than one read) had the head scan, restarted at the hand-over of
// the request before, follow its body's bytes as if they were a head: a
// body holding a line ending in an HTTP version and then an empty line
// ending in a bare LF (an uploaded text file of HTTP requests, LF line
// ends) was refused 400 bad_request, its body or the next request's
// taken for a head ending badly.
func TestBodyLikeAHeadAfterUnseenHeadPasses(t *testing.T) {
	t.Parallel()
	st, up := r36stackUp(t)
	const file = "GET / HTTP/1.1\nHost: a\n\nbody"
	const last = "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"
	first := r36sized("0123456789")
	split := len(first) - 5 // the first body's last 5 bytes come with the second head
	for _, c := range []struct{ name, head, body string }{
		{"a sized body", r36post + "Content-Length: " + itoa(len(file)) + "\r\n\r\n", file},
		{"a chunked body", r36post + "Transfer-Encoding: chunked\r\n\r\n", itoa16(len(file)) + "\r\n" + file + "\r\n0\r\n\r\n"},
	} {
		n := len(up.received())
		in := first + c.head + c.body + last
		rs := sendSplit(t, st.addr, in, []int{split, len(first) + len(c.head) + strings.Index(c.body, file)}, 10*time.Second)
		if r36bad(rs, 3) {
			t.Errorf("%s holding %q, its head read with the end of a sized body: answers %s, want 3 200", c.name, file, r36status(rs))
			continue
		}
		got := up.received()[n:]
		if len(got) != 3 || string(got[1].body) != file {
			t.Errorf("%s holding %q: the service received %d requests, want 3 and the body whole", c.name, file, len(got))
		}
	}
}

func itoa16(n int) string {
	const digits = "0123456789abcdef"
	s := ""
	for ; n > 0; n /= 16 {
		s = string(digits[n%16]) + s
	}
	return s
}

// A bare LF trailer section behind a sized body that took more than one
// read is refused at once: the body is counted off, so the chunked
// request after it is followed. It waited for the read timeout (a
// minute here).
func TestBareLFTrailerBehindSplitSizedBodyRefused(t *testing.T) {
	t.Parallel()
	st := r36stack(t)
	first := r36sized("0123456789")
	in := first + r36chunked("4\r\nbody\r\n0\r\nX-T: y\n\n")
	start := time.Now()
	rs := sendSplit(t, st.addr, in, []int{len(first) - 5}, 10*time.Second)
	if strings.Count(rs, "HTTP/1.1 200 ") != 1 || strings.Count(rs, "HTTP/1.1 400 ") != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("answers %s after %v, want 200 and then 400 at once", r36status(rs), time.Since(start).Round(time.Millisecond))
	}
}
