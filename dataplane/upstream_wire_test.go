package dataplane

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestWireEncode checks the one-buffer encoding of a request for
// sendWait: the bytes fasthttp writes with the sidecar's lines after the
// request line, and nil when the
// request takes more than one buffer or has a body stream, so that it
// goes out through the writer instead; the buffer is held only until
// release (an idle connection's exchange holds none).
func TestWireEncode(t *testing.T) {
	w := wire{lines: []byte("X-Request-Id: r-1\r\nX-Portcullis-Tenant: acme\r\n")}
	for _, c := range []struct {
		name string
		body int
		one  bool
	}{{"no body", 0, true}, {"small body", 1000, true}, {"a buffer's worth", wireSize + 1, false}, {"large body", 1 << 20, false}, {"small again", 10, true}} {
		req := new(fasthttp.Request)
		req.Header.SetMethod("POST")
		req.SetRequestURI("/v1/records?x=1")
		req.Header.SetHost("upstream")
		req.Header.Set("X-Keep", "1")
		req.SetBodyString(strings.Repeat("b", c.body))
		var rendered bytes.Buffer
		bw := bufio.NewWriter(&rendered)
		req.Write(bw)
		bw.Flush()
		line, rest, _ := bytes.Cut(rendered.Bytes(), []byte("\r\n"))
		want := bytes.Join([][]byte{line, []byte("\r\n"), w.lines, rest}, nil)

		got := w.encode(req)
		switch {
		case c.one && !bytes.Equal(got, want):
			t.Errorf("%s: encode = %q, want %q", c.name, got, want)
		case !c.one && got != nil:
			t.Errorf("%s: encode = %d bytes, want nil (more than one buffer)", c.name, len(got))
		case !c.one && w.b != nil:
			t.Errorf("%s: a failed encode kept its buffer", c.name)
		}
		w.release()
		if w.b != nil || w.bytes != nil {
			t.Fatalf("%s: release kept the buffer", c.name)
		}
	}
	req := new(fasthttp.Request)
	req.Header.SetHost("upstream")
	req.SetBodyStream(strings.NewReader("streamed"), -1)
	if got := w.encode(req); got != nil {
		t.Errorf("encode of a body stream = %q, want nil", got)
	}
}
