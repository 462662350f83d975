package dataplane

import (
	"bytes"
	"errors"
)

// errHeadEnd is what a client connection's Read returns once it has read
// a request head whose empty line is not CRLF CRLF; fasthttp hands it to
// errorHandler, which answers 400.
var errHeadEnd = errors.New("dataplane: request head does not end in CRLF CRLF")

// headScan follows the bytes a client connection reads from the start of
// a request head to its empty line, and tells whether that line and the
// one before it end in CRLF. fasthttp (v1.74.0) finds a head's end at
// its first empty line, CRLF or bare LF, but parses its fields only up
// to a CRLF CRLF: a head ending "\n\n" or "\r\n\n" waited for more bytes
// until the header timeout, or, with a CRLF CRLF later in the stream,
// was taken to end at the bare one. Bare LF ends of the lines before are
// left alone (RFC 9112 section 2.2 allows them; fasthttp parses them).
//
// It starts with the connection and again when a request is handed to
// the handler (begin), after its body was read; it stops at the head's
// empty line, so a body is never scanned. A head that pipelining put in
// fasthttp's buffer before then is followed from the bytes kept after
// the request before (pending, trailerend.go), past its body (a
// Content-Length one counted off, followSized; a chunked one followed,
// chunkScan). When they are not known, nothing is followed on the
// connection from then on (restart): the next bytes read may be a
// buffered head's body, and a body holding a line ending in an HTTP
// version was scanned as a head and refused
// (TestBodyLikeAHeadAfterUnseenHeadPasses); decide checks the end of
// such a head (crlfEnd).
type headScan struct {
	headState
	// rest is, of the read that ended the head, the bytes after it: its
	// body's first (trailerend.go); past a sized body once it is read
	// (followSized). It is read only while ended, and set whenever ended
	// is, so restart leaves it: every request would otherwise write a
	// pointer (and pay its write barrier) to clear it.
	rest []byte
}

// headState is what restart clears of a headScan: no pointers.
type headState struct {
	on        bool    // following a head
	first     bool    // its request line is done
	cr        bool    // the last byte read was '\r'
	crlf      bool    // the last complete line ended in CRLF
	inTrailer bool    // following a chunked body's trailer section, not a head (trailerend.go)
	ended     bool    // its empty line was read, rest being the bytes read after it
	sized     bool    // the head's Content-Length body is followed (followSized)
	n         int     // bytes of the current line so far
	tail      [9]byte // the last bytes of the current line, for the request line's version
	left      int64   // bytes of a Content-Length body still to be read after rest (followSized)
}

// restart follows the next head from the next byte read when known is
// true: the bytes read so far were followed to the end of the request
// before. Otherwise where the next head begins is not known (fasthttp
// may have buffered it, and the next bytes read are its body's), and
// nothing is followed on the connection from then on: a body is never
// scanned as a head (TestBodyLikeAHeadAfterUnseenHeadPasses).
func (s *headScan) restart(known bool) { s.headState = headState{on: known} }

// feed follows p, the next bytes read, and reports whether the head
// ended badly in them.
func (s *headScan) feed(p []byte) (bad bool) {
	for s.on && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.note(p)
			return false
		}
		s.note(p[:i])
		p = p[i+1:]
		if bad = s.endLine(); bad {
			return true
		}
	}
	if s.ended {
		// The head ended well in p. Its bytes after the head stay in
		// fasthttp's read buffer, unmoved, until its next read, which
		// comes after headerReceived: a chunked body is followed from
		// them (followChunks).
		s.rest = p
	}
	return false
}

// note follows b, bytes of the current line.
func (s *headScan) note(b []byte) {
	if len(b) == 0 {
		return
	}
	s.n += len(b)
	s.cr = b[len(b)-1] == '\r'
	if !s.first {
		if len(b) >= len(s.tail) {
			copy(s.tail[:], b[len(b)-len(s.tail):])
		} else {
			copy(s.tail[:], s.tail[len(b):])
			copy(s.tail[len(s.tail)-len(b):], b)
		}
	}
}

// endLine follows the end of a line ('\n') and reports whether it was an
// empty line that ended the head badly.
func (s *headScan) endLine() bool {
	cr, empty := s.cr, s.n == 0 || s.n == 1 && s.cr
	s.n, s.cr = 0, false
	switch {
	case empty && !s.first: // empty lines before a request line are skipped, as fasthttp does
		return false
	case empty:
		s.on, s.ended = false, true
		return !cr || !s.crlf
	case !s.first:
		version := s.tail[1:]
		if cr {
			version = s.tail[:len(s.tail)-1]
		}
		s.first, s.on = true, bytes.HasPrefix(version, []byte("HTTP/"))
	}
	s.crlf = cr
	return false
}

// crlfEnd reports whether a request's raw header block, as fasthttp kept
// it (its lines and the empty line that ends them), ends in CRLF CRLF. A
// head that pipelining put in fasthttp's buffer before the previous
// request was handed over is one headScan never saw, so a bare LF end
// there ("\n\n", "\r\n\n", "\n\r\n") is found here, in the one head
// fasthttp parsed (TestBareLFHeadPipelinedRefused). An empty block (a
// request line alone, HTTP/1.0) keeps nothing of how the head ended:
// fasthttp takes a '\n' right after the request line, bare or not, as
// the end of an empty block, so it is refused too
// (TestHeaderlessRequestRefused). The suffix is compared as a string
// with the constant, one 4-byte load, where bytes.HasSuffix calls
// memequal (BenchmarkDecide).
func crlfEnd(raw []byte) bool {
	return len(raw) >= 4 && string(raw[len(raw)-4:]) == "\r\n\r\n"
}
