package dataplane

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestCredHeadersNormalised holds cutHeader's shortcut to what
// delHeader does: each credential header's key is fasthttp's normalising
// of its name, and once cut, in any spelling the client used, the line
// is gone from what fasthttp writes (no copy of it kept outside the
// lines, as Host or Cookie are kept), the other lines in their order.
func TestCredHeadersNormalised(t *testing.T) {
	for _, c := range []credHeader{credAuthorization, credAPIKey} {
		if got := fasthttp.AppendNormalizedHeaderKeyBytes(nil, c.name); string(got) != string(c.key) {
			t.Errorf("%s: key %q, fasthttp normalises it to %q", c.name, c.key, got)
		}
		for _, spelling := range []string{string(c.name), strings.ToLower(string(c.name)), strings.ToUpper(string(c.name))} {
			var h fasthttp.RequestHeader
			raw := "GET / HTTP/1.1\r\nHost: svc\r\nA: 1\r\n" + spelling + ": secret-value\r\nB: 2\r\n\r\n"
			if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
				t.Fatal(err)
			}
			if at := cutHeader(&h, c); at != 1 {
				t.Errorf("%s: cut at %d, want 1", spelling, at)
			}
			out := h.Header()
			if bytes.Contains(out, []byte("secret-value")) || h.Peek(string(c.name)) != nil {
				t.Errorf("%s: still written after the cut:\n%s", spelling, out)
			}
			if a, b := bytes.Index(out, []byte("A: 1")), bytes.Index(out, []byte("B: 2")); a < 0 || b < a {
				t.Errorf("%s: other lines lost or reordered:\n%s", spelling, out)
			}
		}
	}
}
