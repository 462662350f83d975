package dataplane

import (
	"io"
	"net"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// streamToClose sends an HTTP/1.0 client a response body of unknown length
// (chunked or delimited by the close upstream) as it arrives, delimited by
// the close of the connection (RFC 1945 section 7.2.2, RFC 9112 section
// 6.3): an HTTP/1.0 client cannot take chunked coding, and reading the body
// whole first would let any client make the sidecar hold up to 64 MiB per
// request by writing "HTTP/1.0" in its request line. fasthttp can only
// frame a stream with chunked coding, so the connection is hijacked: the
// handler returns without a response, and writeToClose writes the head and
// the body, after which fasthttp closes the connection.
func (s *Server) streamToClose(ctx *fasthttp.RequestCtx, x *exchange) {
	b := x.body
	b.arm(s, ctx, x)
	// As the response's body stream, b is closed (and x settled) by
	// fasthttp's reset of the response even if the hijack never runs, and
	// the audit record counts the bytes sent.
	ctx.Response.SetBodyStream(b, -2)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(b.writeToClose)
}

// toClose reports whether the response b holds must be sent delimited by
// the close of the connection: a streamed body of unknown length for a
// client that does not speak HTTP/1.1.
func (b *responseBody) toClose(req *fasthttp.Request) bool {
	return b.cl < 0 && !req.Header.IsHTTP11()
}

// writeToClose writes the response head, without Content-Length or
// Transfer-Encoding and with "Connection: close", then the body through a
// 4 KiB buffer, on the hijacked connection c; Close settles the exchange.
// fasthttp clears the connection's deadlines before it runs a hijack
// handler, so the response gets the write timeout here, for the whole of
// it as fasthttp gives its own responses: without one a client that stops
// reading would hold the upstream connection and the slot for ever.
// fasthttp runs it on a goroutine of its own, with no recover: a panic
// judging a piece again (stillAllowed) took the whole sidecar down
// (TestHTTP10StreamPanicKeepsServing); it cuts the stream
// (writePanicked), then Close settles it.
func (b *responseBody) writeToClose(c net.Conn) {
	defer b.Close() // before fasthttp's reset of the response: b has settled x by then
	defer b.writePanicked()
	// The upstream's reads stop then too (see until).
	b.until = time.Now().Add(b.s.cfg.WriteTimeout)
	if c.SetWriteDeadline(b.until) != nil {
		return
	}
	h := &b.ctx.Response.Header
	h.Del(fasthttp.HeaderContentLength)
	h.Del(fasthttp.HeaderTransferEncoding)
	h.SetContentLength(-2) // identity: delimited by the close
	h.SetConnectionClose()
	if _, err := c.Write(h.Header()); err != nil {
		return
	}
	n, _ := io.CopyBuffer(onlyWriter{c}, b, make([]byte, 4<<10))
	b.n = min(b.n, n) // the bytes the client was sent, for the audit record
}

// writePanicked recovers a panic of writeToClose: the stream is cut,
// recorded internal_error (Close), and the panic counted and logged once.
// One defer per HTTP/1.0 streamed response.
func (b *responseBody) writePanicked() {
	if p := recover(); p != nil {
		b.cut = audit.InternalError
		b.s.recovered("HTTP/1.0 response stream", p)
	}
}

// onlyWriter hides a connection's ReadFrom, so that io.CopyBuffer uses
// the given buffer rather than one of its own (32 KiB).
type onlyWriter struct{ io.Writer }
