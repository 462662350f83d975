package dataplane

import (
	"errors"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// errChunkFraming is what a client connection's Read returns once a
// chunked request body has cost more bytes than its budget (budgetChunks);
// fasthttp hands it to errorHandler, which answers 400 and closes.
var errChunkFraming = errors.New("dataplane: chunked body framing over its budget")

// chunkSlack is the framing a chunked body may spend beyond its size:
// chunk-size lines, extensions, CRLFs and trailers.
const chunkSlack = 64 << 10

// budgetChunks bounds the bytes the connection of h may read for the
// chunked body that follows h, whose limit is limit, to twice that limit
// plus chunkSlack and a read buffer (bytes of the next request read with
// the body's end).
//
// fasthttp (v1.74.0, parseChunkSize) reads a chunk extension without any
// limit, and its bytes count towards no body limit: a client without a
// credential sent "1;" and then a gigabyte of extension a second, which
// the sidecar read for the whole ReadTimeout, the 16 KiB allowed a body
// before authentication notwithstanding (Go's net/http and Node refuse
// such bodies: CVE-2023-39326, CVE-2024-22019). Counting the bytes read,
// not parsing the chunks, bounds every part of the framing at once; a
// body of chunks of a few bytes each (six bytes on the wire per byte of
// data) is refused past 64 KiB of framing, which no HTTP client sends.
//
// followBody has set the budget of a refused body (refuseBody) already,
// which stands when headerReceived ends before it knows the limit.
func (s *Server) budgetChunks(h *fasthttp.RequestHeader, limit int64) {
	if c := connOfHeader(h); c != nil && c.chunkOn {
		c.chunkLeft = s.chunkBudget(limit)
	}
}

// chunkBudget is what a chunked body of at most limit bytes may cost on
// the wire (budgetChunks).
func (s *Server) chunkBudget(limit int64) int64 {
	return 2*limit + chunkSlack + int64(s.cfg.MaxHeaderBytes)
}

// headerInCtx is where a RequestCtx holds its request head.
const headerInCtx = unsafe.Offsetof((*fasthttp.RequestCtx)(nil).Request) + unsafe.Offsetof((*fasthttp.Request)(nil).Header)

// connOfHeader returns the conn of the request whose head h is, or nil.
// fasthttp calls HeaderReceived with no connection, only the head, and
// that head is always &ctx.Request.Header of the RequestCtx serving the
// connection (server.go, serveConn; TestChunkFramingBudget fails should
// that change), so the RequestCtx is found from it.
func connOfHeader(h *fasthttp.RequestHeader) *conn {
	return ownConn(ctxOfHeader(h).Conn())
}

// ctxOfHeader returns the RequestCtx whose request head h is (connOfHeader).
func ctxOfHeader(h *fasthttp.RequestHeader) *fasthttp.RequestCtx {
	return (*fasthttp.RequestCtx)(unsafe.Add(unsafe.Pointer(h), -int(headerInCtx)))
}
