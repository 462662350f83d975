package dataplane

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"
)

// errTrailerEnd is what a client connection's Read returns once it has
// read the trailer section of a chunked request body ending otherwise
// than in CRLF CRLF; fasthttp hands it to errorHandler, which answers
// 400 and closes.
var errTrailerEnd = errors.New("dataplane: chunked body's trailer section does not end in CRLF CRLF")

// chunkScan follows a chunked request body through the bytes its
// connection reads, from the first byte after its head to the end of its
// last chunk's line, where headScan takes over for the trailer section
// (trailer). fasthttp (v1.74.0, tryReadTrailer) looks for a trailer
// section's end at its first CRLF CRLF only, so a section ending "\n\n",
// "\r\n\n" or "\n\r\n" (0\r\nX: y\n\n) waited for more bytes and held the
// connection, unanswered, until the read timeout; the read that ends it
// badly now returns errTrailerEnd, as a head's does errHeadEnd.
//
// Chunk data is skipped by its size, not scanned, so following a body
// costs a few comparisons a chunk. The framing is read as fasthttp reads
// it where fasthttp accepts it: a chunk-size of at most 15 hex digits,
// anything up to the line's '\n' (an extension, which fasthttp ends at a
// CRLF), then the size's bytes and a CRLF; a size of 0 is the last chunk.
// A line it cannot read so (no digits, too many) stops the scan: fasthttp
// refuses such a body itself.
type chunkScan struct {
	on     bool  // following a body
	data   bool  // in a chunk's data and the CRLF after it
	ext    bool  // past the digits of the chunk-size line
	digits int   // digits of the chunk-size so far
	n      int64 // the chunk-size so far; in data, the bytes left
}

// feed follows p, the next bytes of the body, and returns the bytes after
// the last chunk's line and true once it has ended in them.
func (s *chunkScan) feed(p []byte) ([]byte, bool) {
	for s.on && len(p) > 0 {
		if s.data {
			k := min(int64(len(p)), s.n)
			p, s.n = p[k:], s.n-k
			s.data = s.n > 0
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.size(p)
			return nil, false
		}
		s.size(p[:i])
		p = p[i+1:]
		switch {
		case !s.on || s.digits == 0: // too many digits, or none
			s.on = false
		case s.n == 0:
			s.on = false
			return p, true
		default:
			*s = chunkScan{on: true, data: true, n: s.n + 2} // the data and its CRLF
		}
	}
	return nil, false
}

// size follows b, bytes of a chunk-size line.
func (s *chunkScan) size(b []byte) {
	for ; !s.ext && len(b) > 0; b = b[1:] {
		v := unhex(b[0]) // route.go
		if v < 0 {
			s.ext = true
			return
		}
		if s.digits++; s.digits > 15 { // fasthttp's maxHexIntChars (64-bit)
			s.on = false
			return
		}
		s.n = s.n<<4 | int64(v)
	}
}

// trailer follows the trailer section that begins after the last chunk's
// line, whose CRLF fasthttp requires, as the lines of a head after its
// request line: the section's empty line and the line before it must end
// in CRLF.
func (s *headScan) trailer() {
	s.headState = headState{on: true, first: true, crlf: true, inTrailer: true}
}

// endRefusal is the refusal of a request whose head or trailer section,
// which s follows, ended badly.
func (s *headScan) endRefusal() refusal {
	if s.inTrailer {
		return refusalTrailer
	}
	return refusalHeadEnd
}

// endErr is the error of the Read that ended the head or trailer section
// s follows badly.
func (s *headScan) endErr() error {
	if s.inTrailer {
		return errTrailerEnd
	}
	return errHeadEnd
}

// followBody starts following the body of the request whose head h is,
// of cl bytes (-1: chunked), on a connection Serve wrapped (conn): a
// Content-Length one counted off (followSized), a chunked one followed
// to its trailer section (followChunks) within the budget of a refused
// body until budgetChunks sets its own. headerReceived calls it before
// anything that returns early: with no policy loaded yet it returned
// first, so a trailer section ending in a bare LF waited for the read
// timeout, and after a Content-Length body not followed, where the next
// head began was not known, so nothing was followed on that connection
// any more (TestBareLFTrailerNotReadyRefusedAtOnce). It keeps the
// head's names for errorHandler should the body fail (headNames).
func (s *Server) followBody(h *fasthttp.RequestHeader, cl int64) {
	c := connOfHeader(h) // chunkbudget.go
	if c != nil {
		c.headIn = true // errorHandler: a failure of its body's read is not a silent connection
		c.names = headNames{h.Method(), h.RequestURI(), h.RawHeaders(), versionOK(h)}
	}
	switch {
	case c == nil:
	case cl > 0:
		c.followSized(cl)
	case cl == -1:
		c.chunkOn, c.chunkLeft = true, s.chunkBudget(refuseBody)
		if c.followChunks() {
			c.pre.refuse(refusalTrailer)
			c.failNext = errTrailerEnd
		}
	}
}

// followChunks starts following the chunked body of the request whose
// head c read last, from the bytes read with its head, and reports
// whether its trailer section has already ended badly in them. It needs
// the head's end seen by c.head: a head that pipelining put in fasthttp's
// buffer before the previous request was handed over is not followed.
func (c *conn) followChunks() bool {
	if !c.head.ended || c.head.inTrailer {
		return false
	}
	c.chunk = chunkScan{on: true}
	return c.followed(c.head.rest)
}

// followed follows p, bytes of a chunked body, and its trailer section,
// and reports whether the section ended badly in them.
func (c *conn) followed(p []byte) bool {
	rest, last := c.chunk.feed(p)
	if !last {
		return false
	}
	c.head.trailer()
	return c.head.feed(rest)
}

// pending returns the bytes c read after the request of ctx, which is
// being handed over: the next requests' first bytes, already in
// fasthttp's buffer, which headScan then follows as if read now, so
// that a pipelined head, and the chunked body after it, are followed as
// one read alone would be (TestBareLFTrailerPipelinedRefused). They are
// known when the request's head (or trailer section) was seen to end and
// nothing was read since but what a scan followed: the bytes after its
// end, past its body for a Content-Length one (followSized). Else where
// the next head begins is not known (known false), and the connection's
// later heads are checked for their CRLF CRLF end in decide (crlfEnd)
// only, their chunked bodies not followed. The bytes are fasthttp's read buffer, which it
// keeps across requests (ReduceMemoryUsage stays off, server.go) and
// hands back to its pool on an error before errorHandler runs, which so
// clears ended (TestAttackUnauthenticatedBodyPreallocation with -race
// read a buffer another connection had taken).
func (c *conn) pending(ctx *fasthttp.RequestCtx) (next []byte, known bool) {
	switch {
	case !c.head.ended || c.pre.kind.bad(): // a bad end: the connection closes after the 400
		return nil, false
	case c.chunkOn || c.head.inTrailer:
		if c.chunkOn && c.head.inTrailer {
			return c.head.rest, true
		}
		return nil, false
	}
	if !c.head.sized && len(ctx.Request.Body()) > 0 || c.head.left > 0 {
		// A body not followed (its head's end unseen), or not read to
		// its end: headerReceived follows every body first, and fasthttp
		// hands a request over with its whole Content-Length body read,
		// so this is a guard, not a path.
		return nil, false
	}
	return c.head.rest, true
}

// followSized follows the Content-Length body of cl bytes of the request
// whose head c read last, from the bytes read with its head: the bytes
// after it are the next request's (pending), when the head's end was
// seen. The body's bytes read later are counted off by readSized.
func (c *conn) followSized(cl int64) {
	if !c.head.ended || c.head.inTrailer {
		return
	}
	c.head.sized = true
	if k := int64(len(c.head.rest)); cl > k {
		c.head.rest, c.head.left = c.head.rest[k:], cl-k
		return
	}
	c.head.rest = c.head.rest[cl:]
}

// readSized counts off p, bytes read of a Content-Length body being
// followed (followSized), and keeps the bytes after its end in the read
// that brought it: fasthttp's buffer, unmoved until its next read.
func (c *conn) readSized(p []byte) {
	k := min(int64(len(p)), c.head.left)
	c.head.left -= k
	if c.head.left == 0 {
		c.head.rest = p[k:]
	}
}
