// Rendering a request for the upstream: fasthttp's output with the sidecar's own header lines
// spliced in after the request line, through pooled buffers.

package dataplane

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// wireSize is the size of the pooled writers' buffer (fasthttp's default
// WriteBufferSize). A request that fills it goes out through the writer,
// except a head larger than it without a body, which bufio hands to
// wire.Write whole and is encoded in one piece (TestWireEncodeLargeHead).
const wireSize = 4 << 10

// wireBuf is what a request is rendered through: the writer fasthttp
// writes it to, and the buffer its first flush is copied into with the
// sidecar's header lines (wire.Write).
type wireBuf struct {
	bw  *bufio.Writer
	out []byte
}

// wireBufs holds the buffers requests are rendered through: a buffer is
// held only from encode or write to release, so idle keep-alive
// connections hold none.
var wireBufs = sync.Pool{New: func() any {
	return &wireBuf{bw: bufio.NewWriterSize(nil, wireSize), out: make([]byte, 0, wireSize+512)}
}}

// wireKeep is the largest splice buffer given back to the pool: one grown
// by a head of tens of kilobytes is left to the garbage collector.
const wireKeep = 16 << 10

// wire renders a request for the upstream: what fasthttp writes, with the
// header lines the sidecar adds (lines: X-Forwarded-For, X-Request-Id and
// the identity headers, see appendLines) right after the request line.
// fasthttp's header map is not used for those: setting seven headers there
// (a copy, a CR/LF scan and a search of the map each) was a sixth of the
// request path's instructions, and every one of them came in removed or
// refused (prepareRequest), so the lines are the only ones of their names.
// encode renders a request of one buffer for sendWait; write sends any
// request to its connection, flush by flush. Each exchange has one
// (exchange.out).
type wire struct {
	lines []byte   // the sidecar's header lines, CRLF-terminated (prepareRequest)
	b     *wireBuf // held from encode or write to release
	c     net.Conn // write: where each flush goes; nil while encoding
	bytes []byte   // encode: the one flush, lines spliced in, until release
	n     int      // flushes so far
}

var (
	// errSplit stops an encoding that needs more than one write.
	errSplit = errors.New("dataplane: request larger than one buffer")
	// errRequestLine stops a request whose first write does not hold its
	// request line; fasthttp writes the head in one piece, so it cannot
	// happen, and the request is not sent without its identity lines.
	errRequestLine = errors.New("dataplane: request line not found in the rendered request")
)

// Write splices the sidecar's lines into the first flush, after the
// request line, and keeps it (encode: a second flush means the request did
// not fit) or writes it and every later flush to the connection (write).
func (w *wire) Write(p []byte) (int, error) {
	n := len(p)
	if w.n++; w.n == 1 {
		i := bytes.IndexByte(p, '\n')
		if i < 2 || p[i-1] != '\r' { // "\r\n" alone is no request line
			return 0, errRequestLine
		}
		out := append(append(w.b.out[:0], p[:i+1]...), w.lines...)
		p = append(out, p[i+1:]...)
		w.b.out = p
	}
	if w.c == nil {
		if w.n > 1 {
			return 0, errSplit
		}
		w.bytes = p
		return n, nil
	}
	if _, err := w.c.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// start takes a buffer for one rendering, to c (write) or kept (c nil).
func (w *wire) start(c net.Conn) *bufio.Writer {
	w.b = wireBufs.Get().(*wireBuf)
	w.b.bw.Reset(w)
	w.c, w.bytes, w.n = c, nil, 0
	return w.b.bw
}

// encode renders req with its lines and returns its bytes, valid until
// release, or nil when req takes more than one write to the writer (a head
// and a body over 4 KiB together) or has a body stream: it is then
// rendered again by write, and only such requests pay for the attempt. A
// head over 4 KiB alone is one write, and is returned whole.
func (w *wire) encode(req *fasthttp.Request) []byte {
	if req.IsBodyStream() {
		return nil
	}
	bw := w.start(nil)
	if req.Write(bw) != nil || bw.Flush() != nil || w.n != 1 {
		w.release()
		return nil
	}
	return w.bytes
}

// write sends req with its lines to c.
func (w *wire) write(c net.Conn, req *fasthttp.Request) error {
	bw := w.start(c)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	w.release()
	return err
}

// release gives the buffer back; the bytes encode returned are gone.
func (w *wire) release() {
	if b := w.b; b != nil {
		b.bw.Reset(nil)
		if cap(b.out) <= wireKeep {
			wireBufs.Put(b)
		}
	}
	w.b, w.c, w.bytes = nil, nil, nil
}
