//go:build !race

package dataplane

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// Reading and checking a last chunk's trailer section allocates nothing
// once the spare header has room for its trailers.
func TestLastChunkAllocs(t *testing.T) {
	const body = "0\r\nX-Sum: 1\r\nServer-Timing: db;dur=1\r\n\r\n"
	var sr strings.Reader
	br := bufio.NewReaderSize(nil, 4096)
	var h fasthttp.ResponseHeader
	run := func() {
		sr.Reset(body)
		br.Reset(&sr)
		last, err := firstChunk(br, 1<<20)
		if err != nil || last != 3 {
			t.Fatalf("firstChunk: %d, %v", last, err)
		}
		if err := lastChunk(br, last, &h); err != nil || br.Buffered() != 0 {
			t.Fatalf("lastChunk: %v, %d bytes left", err, br.Buffered())
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations a last chunk, want 0", n)
	}
}
