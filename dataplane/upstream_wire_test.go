package dataplane

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestWireEncode checks the one-buffer encoding of a request for
// sendWait: the same bytes the writer would send, and nil when the
// request takes more than one buffer or has a body stream, so that it
// goes out through the writer instead; the buffer is held only until
// release (an idle connection's exchange holds none).
func TestWireEncode(t *testing.T) {
	var w wire
	for _, c := range []struct {
		name string
		body int
		one  bool
	}{{"no body", 0, true}, {"small body", 1000, true}, {"a buffer's worth", wireSize + 1, false}, {"large body", 1 << 20, false}, {"small again", 10, true}} {
		req := new(fasthttp.Request)
		req.Header.SetMethod("POST")
		req.SetRequestURI("/v1/records?x=1")
		req.Header.SetHost("upstream")
		req.Header.Set("X-Portcullis-Tenant", "acme")
		req.SetBodyString(strings.Repeat("b", c.body))
		var want bytes.Buffer
		bw := bufio.NewWriter(&want)
		req.Write(bw)
		bw.Flush()

		got := w.encode(req)
		switch {
		case c.one && !bytes.Equal(got, want.Bytes()):
			t.Errorf("%s: encode = %q, want %q", c.name, got, want.Bytes())
		case !c.one && got != nil:
			t.Errorf("%s: encode = %d bytes, want nil (more than one buffer)", c.name, len(got))
		case !c.one && w.bw != nil:
			t.Errorf("%s: a failed encode kept its buffer", c.name)
		}
		w.release()
		if w.bw != nil || w.bytes != nil {
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
