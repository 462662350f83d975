package dataplane

import (
	"bufio"
	"bytes"
	"io"
	"strconv"

	"github.com/valyala/fasthttp"
)

// maxChunkLine bounds the first chunk-size line of a response, its CRLF
// included, as Go's net/http bounds every one (internal/chunked.go,
// maxLineLength): a size and a few extensions fit with room to spare.
const maxChunkLine = 4096

// maxSizeDigits is the most hex digits fasthttp (v1.74.0, readHexInt,
// maxHexIntChars) reads in a chunk size, leading zeros included: 15 where
// an int has 64 bits, 7 where it has 32. A size of more digits is refused
// by the stream; one of at most so many cannot overflow an int.
const maxSizeDigits = strconv.IntSize/4 - 1

// firstChunk waits, within the read deadline the round trip set, for the
// whole first chunk-size line of a chunked body and checks it
// (chunkLineOK). fasthttp (v1.74.0, parseChunkSize) refuses a broken line
// only when the stream reads it, after the service's head was handed to
// fasthttp: the client got a cut connection and no status line
// (TestChunkedBareLFSizeLineAnswered502,
// TestChunkedFirstSizeLineMalformedAnswered502). A line longer than
// maxChunkLine (or br's buffer) is errFraming too; the service closing
// within the line is io.ErrUnexpectedEOF. Every later line is left to the
// stream's reads: once the head is handed over, a broken line still cuts
// the connection. The scan resumes where it stopped as more of the line
// arrives.
//
// When the first chunk is the last (size 0), last is the length of its
// line, for lastChunk to read the trailer section after it; else 0.
func firstChunk(br *bufio.Reader, limit int64) (last int, err error) {
	most := min(br.Size(), maxChunkLine)
	for from := 0; ; {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(b[from:], '\n'); i >= 0 {
			line := b[:from+i+1]
			size, err := chunkLineOK(line, limit)
			if err != nil || size > 0 {
				return 0, err
			}
			return len(line), nil
		}
		if len(b) >= most {
			return 0, errFraming
		}
		from = len(b)
		if _, err := br.Peek(len(b) + 1); err != nil {
			return 0, unexpectedEOF(err)
		}
	}
}

// unexpectedEOF is err of a read within a response's framing: the
// service closing there is io.ErrUnexpectedEOF, a stall a timeout.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return timeout(err)
}

// lastChunk reads the trailer section after a first chunk that is the
// last, its line of line bytes at br's front, and checks it by fasthttp's
// own parser (v1.74.0, ReadTrailer: parseTrailer, isBadTrailer and the
// header scanner), into h, the streamed body's spare header, which is
// reset after: the trailers are dropped, as a streamed body's are. The
// stream read this section only after the head was handed over, so a
// section fasthttp refuses (a Set-Cookie, Content-Length or other
// forbidden name, a line without a colon or with a name outside the token
// set, a control byte in a value, a first line starting with a blank) or
// that never ends in CRLF CRLF cut the client with no status line
// (TestChunkedLastChunkTrailersRefusedAnswered502). Each is errFraming
// now; the service closing before the section's end is
// io.ErrUnexpectedEOF. The section, with the last chunk's line, must fit
// in br's buffer (max_header_bytes, as the head must). On success the
// whole body has been read: an empty one.
func lastChunk(br *bufio.Reader, line int, h *fasthttp.ResponseHeader) error {
	if err := trailerEnd(br, line); err != nil {
		return err
	}
	br.Discard(line)
	h.Reset()
	err := h.ReadTrailer(br) // the section's CRLF CRLF is buffered: no read, no wait
	h.Reset()
	if err != nil {
		return errFraming // fasthttp's error quotes the section
	}
	return nil
}

// trailerEnd waits, within the read deadline the round trip set, until
// the trailer section that starts from bytes into br's buffer has come
// to its empty line, and checks that the empty line and the line before
// it end in CRLF: fasthttp looks for the section's end at its first CRLF
// CRLF only, and would wait for one after a bare LF end ("X: y\n\n")
// until the stream's read timed out. The line before the first is the
// last chunk's, which chunkLineOK holds to a CRLF. A section br cannot
// hold is errFraming. The scan resumes where it stopped as more arrives.
func trailerEnd(br *bufio.Reader, from int) error {
	off, seen, crlf := from, from, true
	for {
		b, _ := br.Peek(br.Buffered())
		for {
			i := bytes.IndexByte(b[seen:], '\n')
			if i < 0 {
				seen = len(b)
				break
			}
			i += seen
			cr := i > off && b[i-1] == '\r'
			if n := i - off; n == 0 || cr && n == 1 { // the empty line
				if !cr || !crlf {
					return errFraming
				}
				return nil
			}
			off, seen, crlf = i+1, i+1, cr
		}
		if len(b) >= br.Size() {
			return errFraming
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return unexpectedEOF(err)
		}
	}
}

// chunkLineOK checks line, a chunk-size line up to and with its LF, by
// RFC 9112 section 7.1.1 and by what fasthttp's stream reads: 1 to
// maxSizeDigits hex digits, then chunk extensions (chunkExtOK) right
// after them or none, then CRLF. Spaces and tabs before the CRLF are let
// through, as fasthttp and Go's net/http take them after a size; fasthttp
// refuses them before a ';', which RFC 9112 allows (BWS), so that is
// errFraming here. A size above limit, what the body may hold, is
// errResponseTooLarge, as a Content-Length above it is. size is the
// chunk's size when the line passes.
func chunkLineOK(line []byte, limit int64) (size int64, err error) {
	if len(line) > maxChunkLine || len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, errFraming // too long, or a bare LF
	}
	line = trimTrailingOWS(line[:len(line)-2])
	n := 0
	for ; n < len(line) && unhex(line[n]) >= 0; n++ {
		if n == maxSizeDigits {
			return 0, errFraming // a digit more than fasthttp reads
		}
		size = size<<4 | int64(unhex(line[n]))
	}
	switch {
	case n == 0, !chunkExtOK(line[n:]):
		return 0, errFraming
	case size > limit:
		return 0, errResponseTooLarge
	}
	return size, nil
}

// chunkExtOK reports whether b is a chunk-ext of RFC 9112 section 7.1.1
// without its leading BWS: *( ";" BWS name [ BWS "=" BWS value ] BWS ),
// name a token, value a token or a quoted-string.
func chunkExtOK(b []byte) bool {
	for i := 0; i < len(b); {
		if b[i] != ';' {
			return false
		}
		i = skipOWS(b, i+1)
		n := tcharLen(b[i:])
		if n == 0 {
			return false
		}
		if i = skipOWS(b, i+n); i < len(b) && b[i] == '=' {
			i = skipOWS(b, i+1)
			if n = extValueLen(b[i:]); n == 0 {
				return false
			}
			i = skipOWS(b, i+n)
		}
	}
	return true
}

// extValueLen is the length of the token or quoted-string (RFC 9110
// section 5.6.4) at the start of b, 0 if there is none.
func extValueLen(b []byte) int {
	if len(b) == 0 || b[0] != '"' {
		return tcharLen(b)
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\' && i+1 < len(b) && quotedByte(b[i+1]):
			i++
		case c == '\\' || !quotedByte(c):
			return 0
		}
	}
	return 0 // unterminated
}

// quotedByte reports whether c may stand in a quoted-string, quoted or
// not (qdtext and quoted-pair of RFC 9110 section 5.6.4, '"' and '\\'
// apart): HTAB, SP, VCHAR and obs-text.
func quotedByte(c byte) bool {
	return c == '\t' || c >= ' ' && c != 0x7f
}

// tcharLen is the length of the run of tchar (RFC 9110 section 5.6.2) at
// the start of b.
func tcharLen(b []byte) int {
	for i, c := range b {
		if !tchar[c] {
			return i
		}
	}
	return len(b)
}

// tchar marks the bytes of an RFC 9110 token.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// trimTrailingOWS drops the spaces and tabs at the end of b.
func trimTrailingOWS(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
