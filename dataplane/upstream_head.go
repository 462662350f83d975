// Reading the upstream's response head: interim responses skipped, the header lines a service may
// not send refused, framing judged, and a Connection: close found in a head fasthttp reads.

package dataplane

import (
	"bufio"
	"bytes"

	"github.com/valyala/fasthttp"
)

// readHead reads the final response head into resp, skipping at most
// maxInterim 1xx responses (RFC 9110 section 15.2), and reports whether
// the connection may be reused and whether the head holds headers
// scrubResponse removes. A 101 (nothing was asked to upgrade), a 1xx or
// 204 with a body length, a 304 with chunked coding, or Content-Length
// together with chunked coding is errFraming (RFC 9110 section 8.6, RFC
// 9112 section 6.3).
func readHead(br *bufio.Reader, resp *fasthttp.Response, head bool) (headOf, error) {
	h := &resp.Header
	h.DisableNormalizing()
	var closes, length bool
	for n := 0; ; n++ {
		var bare bool
		if closes, length, bare = listsClose(br); bare {
			return headOf{}, errFraming // Read would wait for a CRLF CRLF
		}
		if err := h.Read(br); err != nil {
			return headOf{}, timeout(err)
		}
		st := h.StatusCode()
		// fasthttp reads Content-Length beside chunked as chunked and
		// drops the length: which framing did the service mean? (RFC 9112
		// section 6.3: "ought to be handled as an error"; nginx answers
		// 502 too.)
		if !framed(st, h.ContentLength()) || length && h.ContentLength() == -1 {
			return headOf{}, errFraming
		}
		if st >= 200 {
			break
		}
		if n == maxInterim {
			return headOf{}, errFraming
		}
	}
	if !ownVersion(h) || !reasonOK(h.StatusMessage()) {
		return headOf{}, errFraming
	}
	resp.SkipBody = head || mustSkipBody(h.StatusCode())
	// A body delimited by the end of the connection (no length, not
	// chunked) ends the connection too; fasthttp marks it ConnectionClose.
	hd := headOf{keep: !h.ConnectionClose() && !closes}
	listed := 0 // names the Connection lines list
	for k, v := range h.All() {
		// fasthttp refuses a name with any other byte outside the token
		// set but keeps one with a space inside ("X-Auth User: admin"),
		// which it would pass on to the client as it came: a client or
		// proxy that splits the name at the space, or drops the line,
		// reads another header set than the one checked here. A name
		// with '_' that reads as one the sidecar frames or scrubs by
		// with '-' for '_' (Content_Length, Transfer_Encoding,
		// X_Request_Id) is refused too: a client, cache or proxy that
		// folds '_' into '-', as CGI, PHP and WSGI servers fold request
		// names, took it for a line the sidecar checked (review97,
		// TestUpstreamMalformedResponseRefused). Other names with '_'
		// go on: RFC 9110 allows them, Envoy checks them in downstream
		// requests only, and a service sending X_Powered_By would
		// otherwise answer nothing but 502s.
		if !plainName(k) && (bytes.IndexByte(k, ' ') >= 0 || underscoreAlias(k)) {
			return headOf{}, errFraming
		}
		if scrubbed(k) {
			hd.scrub = true
			// scrubResponse removes each name the Connection lines list,
			// matching every header against the whole list and deleting
			// each named one in a pass over the header: quadratic, so a
			// service listing 1,200 of its headers cost 25 ms of CPU a
			// response. Bounded as a request's lists are (400 there):
			// TestUpstreamConnectionListBounded.
			if listed += listedNames(k, v); listed > maxConnectionNames {
				return headOf{}, errFraming
			}
		}
	}
	return hd, nil
}

// listedNames is the number of names a response header k: v lists when
// k is Connection, in any case (its options, each removed as hop-by-hop),
// else 0.
func listedNames(k, v []byte) int {
	if !foldEqual(k, "connection") {
		return 0
	}
	n := 0
	for name := range bytes.SplitSeq(v, []byte(",")) {
		if len(trimOWS(name)) > 0 {
			n++
		}
	}
	return n
}

// underscoreAlias reports whether a response header name holds '_' and,
// each '_' read as '-', names Content-Length or a header the sidecar
// scrubs (scrubbed: Transfer-Encoding, Connection, X-Request-Id, ...).
func underscoreAlias(k []byte) bool {
	var buf [len("Proxy-Authorization")]byte
	if len(k) > len(buf) || bytes.IndexByte(k, '_') < 0 {
		return false
	}
	b := buf[:len(k)]
	for i, c := range k {
		if c == '_' {
			c = '-'
		}
		b[i] = c
	}
	return scrubbed(b) || len(b) == len("Content-Length") && nameKey(b) == keyContentLength
}

// ownVersion reports whether the final response head h names HTTP/1.1
// or HTTP/1.0, and gives it the sidecar's own version, HTTP/1.1, for the
// client (RFC 9110 section 2.5: an intermediary sends its own). fasthttp's
// server writes the status line with the version the response holds,
// which was the service's: an "HTTP/1.0" answer reached an HTTP/1.1
// client beside the sidecar's own chunked coding, framing RFC 9112
// section 6.1 makes a recipient treat as faulty, and "HTTP/9.9" went on
// as it came, as a request of that version no longer does (versionOK).
// A cleared protocol is written as HTTP/1.1 (TestUpstreamVersionNotForwarded).
func ownVersion(h *fasthttp.ResponseHeader) bool {
	if p := h.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		return false
	}
	h.SetProtocol(nil)
	return true
}

// reasonOK reports whether a reason phrase holds only the bytes RFC 9112
// section 4 allows there: tabs, spaces, visible and obs-text bytes.
// fasthttp keeps the service's phrase as it came, CR and LF made spaces,
// and its server writes it on the client's status line: a NUL, an escape
// sequence or a DEL reached the client, which fasthttp refuses in a header
// value (TestUpstreamReasonControlBytesRefused).
func reasonOK(reason []byte) bool {
	for _, c := range reason {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// headOf is what readHead tells of a response head.
type headOf struct {
	keep  bool // the connection may carry another request
	scrub bool // a header scrubResponse removes came (scrubbed)
}

// listsClose reads the next response head into br's buffer, as Read
// would, and reports whether a Connection line of it lists "close", in
// any spelling or beside other names ("Close", "close, x-debug"): the
// upstream then reads no further request on the connection (RFC 9112
// section 9.6). fasthttp's own mark (ConnectionClose) is not enough: it
// takes only a line that is exactly "close", keeps no such line in the
// header, and a later Connection line ("close" then "keep-alive") clears
// the mark. In the same pass it reports whether the head has a
// Content-Length line (length), which fasthttp drops beside chunked
// coding, and whether its framing is faulty (bare): its empty line is not
// CRLF CRLF (fasthttp reads a response head only once a CRLF CRLF is
// somewhere in its buffer, so such a head held the request until the
// upstream timeout, TestUpstreamBareLFHeadFailsAtOnce), or it is not
// HTTP/1.1 and has a Transfer-Encoding line, which fasthttp skips in such
// a response, framing the body by a guess (RFC 9112 section 6.1: faulty;
// TestUpstreamHTTP10TransferEncodingRefused). A head br cannot hold is
// left for Read to refuse. Each piece of a head that arrives in pieces is
// scanned once: the scan resumes where it stopped (closeScan), where it
// used to start again from the head's start, quadratic in the pieces
// (BenchmarkListsCloseTrickled: a 16 KiB head a byte at a time cost
// 138 ms of CPU; only the service can send one so).
func listsClose(br *bufio.Reader) (closes, length, bare bool) {
	var s closeScan
	for n := 1; ; n = br.Buffered() + 1 {
		if _, err := br.Peek(n); err != nil {
			return false, false, false // Read fails the same way
		}
		b, _ := br.Peek(br.Buffered())
		if whole, bare := s.scan(b); whole {
			return s.closes, s.length, bare
		}
	}
}

// headListsClose scans the response head at the front of b for a
// Connection line listing "close"; whole reports that b holds the head
// up to its empty line, length that it has a Content-Length line, and
// bare that its empty line, or the line before, ends in a bare LF, or that
// a head of another version than HTTP/1.1 has a Transfer-Encoding line,
// or that its status code is outside 100 to 599 (statusInRange).
// A line folded onto the next (obs-fold), which fasthttp joins, is read
// with it.
func headListsClose(b []byte) (closes, length, whole, bare bool) {
	var s closeScan
	whole, bare = s.scan(b)
	return s.closes, s.length, whole, bare
}

// closeScan is headListsClose's scan, kept between the pieces of a head
// as they arrive. Its zero value starts at the head's first byte; each
// call of scan is given the head's bytes so far (the same bytes, and
// more).
type closeScan struct {
	off    int  // where the first line not yet read starts
	seen   int  // how far from off no LF was found
	closes bool // a Connection line lists close
	length bool // a Content-Length line came
	status bool // the status line came
	conn   bool // the last line read is a Connection line (obs-fold)
	crlf   bool // the last line read ended in CRLF
	not11  bool // the head is not HTTP/1.1
	te     bool // a Transfer-Encoding line came
}

// scan reads the whole lines of b it has not read yet, and reports what
// headListsClose does.
func (s *closeScan) scan(b []byte) (whole, bare bool) {
	for {
		i := bytes.IndexByte(b[s.seen:], '\n')
		if i < 0 {
			s.seen = len(b)
			return false, false
		}
		i += s.seen
		cr := i > s.off && b[i-1] == '\r'
		line := b[s.off:i]
		if cr {
			line = line[:len(line)-1]
		}
		s.off, s.seen = i+1, i+1
		if whole, bare := s.line(line, cr); whole {
			return true, bare
		}
	}
}

// line reads one line of the head (without its LF, and without its CR:
// cr tells whether it had one), and reports whether it ended the head.
func (s *closeScan) line(line []byte, cr bool) (whole, bare bool) {
	switch {
	case !s.status: // empty lines before the status line are skipped, as fasthttp does
		s.status = len(line) > 0
		s.not11 = s.status && !bytes.HasPrefix(line, []byte("HTTP/1.1 "))
		if s.status && !statusInRange(line) {
			s.closes, s.length = false, false
			return true, true
		}
	case len(line) == 0:
		return true, !cr || !s.crlf || s.not11 && s.te
	case line[0] == ' ' || line[0] == '\t': // more of the line before
		s.closes = s.closes || s.conn && inList(line, []byte("close"))
	case line[0]|0x20 == 't':
		s.conn = false
		s.te = s.te || transferEncodingLine(line)
	case len(line) < len("Connection:") || line[0]|0x20 != 'c':
		s.conn = false // not a Connection line: most are told by a byte or two
	case line[3]|0x20 != 'n':
		s.conn = false
		_, cl := fieldValue(line, len("content-length"), keyContentLength)
		s.length = s.length || cl
	default:
		var v []byte
		v, s.conn = fieldValue(line, len("connection"), keyConnection)
		s.closes = s.closes || s.conn && inList(v, []byte("close"))
	}
	s.crlf = cr
	return false, false
}

// statusInRange reports whether the code on a response's status line,
// found as fasthttp finds it (after the first space and any more), is
// within 100 to 599, where RFC 9110 section 15 puts every valid code, or
// does not start with a digit (fasthttp's Read refuses the line then).
// fasthttp takes any three digits: "000" it reads as 0, which StatusCode
// gives as 200, so the client got a 200 the service never sent; "999" its
// server wrote on the client's status line (review97,
// TestUpstreamMalformedResponseRefused). headListsClose reports such a
// head as faulty: a 502.
func statusInRange(line []byte) bool {
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		return true
	}
	for i++; i < len(line) && line[i] == ' '; i++ {
	}
	if i == len(line) {
		return true
	}
	c := line[i]
	return c < '0' || c > '9' || '1' <= c && c <= '5'
}

// transferEncodingLine reports whether a response head line is named
// Transfer-Encoding, in any case, blanks before the colon allowed as
// fasthttp allows them.
func transferEncodingLine(line []byte) bool {
	const name = "transfer-encoding"
	if len(line) <= len(name) || !foldEqual(line[:len(name)], name) {
		return false
	}
	rest := line[len(name):]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	return len(rest) > 0 && rest[0] == ':'
}

// fieldValue returns what follows the colon of a header line whose name
// has n bytes and the nameKey words key (compared as foldEqual does),
// blanks before the colon allowed as fasthttp allows them, and whether
// the line has that name. It reads the name in place, as two words: no
// search for the colon, no trim, no loop over the name.
func fieldValue(line []byte, n int, key nameWords) (value []byte, ok bool) {
	if len(line) <= n || nameKey(line[:n]) != key {
		return nil, false
	}
	rest := line[n:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) == 0 || rest[0] != ':' {
		return nil, false
	}
	return rest[1:], true
}

// framed reports whether a response head with status st and declared
// length cl (-1 chunked, -2 none) can be forwarded: a real status, not
// 101, no body length on a 1xx or 204, no chunked coding on a 304 (which
// may carry the length of the representation it stands for).
func framed(st, cl int) bool {
	switch {
	case st < 100 || st == fasthttp.StatusSwitchingProtocols:
		return false
	case st < 200 || st == fasthttp.StatusNoContent:
		return cl == -2 || cl == 0
	case st == fasthttp.StatusNotModified:
		return cl != -1
	}
	return true
}

// mustSkipBody reports whether a response with status st has no body
// whatever its header says: 204 and 304 (RFC 9110 section 6.4.1).
func mustSkipBody(st int) bool {
	return st == fasthttp.StatusNoContent || st == fasthttp.StatusNotModified
}
