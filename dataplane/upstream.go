package dataplane

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/limiter"
	"github.com/valyala/fasthttp"
)

// streamAbove is the largest response body read whole; a longer one, or
// one of unknown length, is streamed to the client through fasthttp's
// 4 KiB buffers, so a slow reader of a large response holds kilobytes,
// not the response (issue 12, item 9: 12 slow readers of 60 MiB bodies
// held 796 MiB).
const streamAbove = 64 << 10

// maxInterim bounds the 1xx responses read before the final one.
const maxInterim = 8

var (
	errFraming          = errors.New("dataplane: upstream response framing is invalid")
	errResponseTooLarge = errors.New("dataplane: upstream response body is larger than the class allows")
)

// origin is the connection pool to the service and the round trip the
// sidecar makes on it. It uses fasthttp.HostClient for the pool (dialling,
// the cap, idle expiry) but not its Do: a pooled connection must never
// carry a byte of one response into the next request's, which Do cannot
// promise (it drops what its reader buffered past a response and pools
// the connection with whatever is still in the socket). So a connection
// is closed, never reused, after any framing anomaly or when a byte is
// left after a response; and before a pooled connection is reused, the
// socket is checked for bytes nobody asked for (a late body on a 204, more
// than Content-Length), which close it too.
type origin struct {
	hc           *fasthttp.HostClient
	acquire      func(time.Duration, bool) (any, error)
	release      func(any)
	close        func(any)
	readTimeout  time.Duration
	writeTimeout time.Duration
	maxWhole     int64 // the most a body read whole may hold (MaxBodyBytes)

	stale   atomic.Uint64 // pooled connections found with unread bytes
	dropped atomic.Uint64 // connections closed for an anomaly after a response
}

// pooledConn is what HostClient hands out; its type is unexported.
type pooledConn interface{ Conn() net.Conn }

// bindPool erases the type of HostClient's connection handles (an
// unexported pointer type) into any, so the round trip and a streamed
// body can hold one; the functions are built once, and converting a
// pointer to any does not allocate. Each handle holds one of slots, taken
// before acquire (waiting up to wait, else fasthttp.ErrNoFreeConns) and
// given back after its release or close: slots holds the pool's cap, so
// acquire always finds an idle connection or room to dial one, and never
// waits in HostClient's own queue, which can lose a wakeup (below).
func bindPool[C pooledConn](acquire func(time.Duration, bool) (C, error), release, close func(C), slots *slots, wait time.Duration) (func(time.Duration, bool) (any, error), func(any), func(any)) {
	return func(d time.Duration, connClose bool) (any, error) {
			if err := slots.take(wait); err != nil {
				return nil, err
			}
			cc, err := acquire(d, connClose)
			if err != nil {
				slots.give()
				return nil, err
			}
			return cc, nil
		},
		func(cc any) { release(cc.(C)); slots.give() },
		func(cc any) { close(cc.(C)); slots.give() }
}

// slots is a counting semaphore of the pool's connections: take takes one,
// waiting up to wait, first come first served, else it returns
// fasthttp.ErrNoFreeConns (503 upstream_saturated, forward.go); give hands
// one back, to the longest waiter if any. The wait was HostClient's
// (MaxConnWaitTimeout), whose AcquireConn checks the pool, unlocks, then
// queues its waiter without looking again: a connection released in
// between sat idle while the request waited the whole upstream timeout and
// got 503 (valyala/fasthttp issue 2391, open in v1.74.0;
// TestPoolHandsOverAConnectionReleasedAtOnce). Here a slot given while
// someone waits goes to that waiter under the same lock its wait was
// queued under, so no wakeup is lost. It was a buffered channel, whose send
// and receive cost about 330 instructions a request; a free slot now costs
// a lock, a compare and an unlock each way. A slot free on the first try
// allocates nothing; a wait allocates its channel and timer.
type slots struct {
	mu      sync.Mutex
	free    int             // slots neither held nor handed to a waiter
	waiting []chan struct{} // the queued takers, oldest first; each channel has room for one
}

func newSlots(n int) *slots { return &slots{free: n} }

// take takes a slot, waiting up to wait for one.
func (s *slots) take(wait time.Duration) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiting) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{}, 1)
	s.waiting = append(s.waiting, ch)
	s.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiting {
		if w == ch {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
			return fasthttp.ErrNoFreeConns
		}
	}
	return nil // a slot was handed over as the timer fired: it is ours
}

// give hands a slot back: to the longest waiter, or to the free count.
func (s *slots) give() {
	s.mu.Lock()
	if len(s.waiting) == 0 {
		s.free++
		s.mu.Unlock()
		return
	}
	ch := s.waiting[0]
	s.waiting[0] = nil
	s.waiting = s.waiting[1:]
	s.mu.Unlock()
	ch <- struct{}{} // room for one, and only give sends on it: never blocks
}

func newUpstreamPool(hc *fasthttp.HostClient, timeout time.Duration, maxWhole int64) *origin {
	u := &origin{hc: hc, readTimeout: timeout, writeTimeout: timeout, maxWhole: maxWhole}
	u.acquire, u.release, u.close = bindPool(hc.AcquireConn, hc.ReleaseConn, hc.CloseConn, newSlots(cmp.Or(hc.MaxConns, fasthttp.DefaultMaxConnsPerHost)), hc.MaxConnWaitTimeout)
	return u
}

// readResponse reads the response to req, which send wrote on c (cc, a
// connection of the pool), into resp. A body of known length up to
// streamAbove is read into resp and the connection goes back to the pool;
// a longer one, or one of unknown length, is left on the connection for
// body to stream (and streamed reports true). A declared length above
// limit is errResponseTooLarge. On an error the connection is closed.
// Server.roundTrip takes the connection and sends the request.
func (u *origin) readResponse(cc any, c net.Conn, req *fasthttp.Request, resp *fasthttp.Response, body *responseBody, limit int64) (got answer, err error) {
	br := u.hc.AcquireReader(c)
	if got, err = u.receive(br, c, cc, req, resp, body, limit); err != nil {
		u.hc.ReleaseReader(br)
		u.close(cc)
	}
	return got, err
}

// answer is what readResponse tells of a response besides its error.
type answer struct {
	streamed bool // the body is left for body to stream
	scrub    bool // the head holds headers scrubResponse removes
}

// receive reads the response head from br and then the body, or hands the
// body to body to stream. It ends the connection's use unless it streams
// or fails; on failure the caller closes the connection.
func (u *origin) receive(br *bufio.Reader, c net.Conn, cc any, req *fasthttp.Request, resp *fasthttp.Response, body *responseBody, limit int64) (answer, error) {
	hd, err := readHead(br, resp, req.Header.IsHead())
	if err != nil {
		return answer{}, err
	}
	keep := hd.keep && !req.ConnectionClose()
	switch cl := resp.Header.ContentLength(); {
	case resp.SkipBody:
	case int64(cl) > limit:
		return answer{}, errResponseTooLarge
	case cl >= 0 && cl <= streamAbove:
		if err := resp.ReadBody(br, cl); err != nil {
			return answer{}, timeout(err)
		}
	default:
		if err := bodyBegun(br, cl, limit); err != nil {
			return answer{}, err
		}
		body.start(u, c, cc, br, cl, limit, keep)
		return answer{streamed: true, scrub: hd.scrub}, nil
	}
	u.done(cc, br, keep)
	return answer{scrub: hd.scrub}, nil
}

// bodyBegun waits, within the read deadline the round trip set (conn),
// for the first byte of a body to be streamed (cl: its declared length,
// -1 chunked, -2 until the connection closes). Once streaming, the
// client's answer is the service's head, which fasthttp writes before the
// body: a body that broke off before its first byte gave the client a
// cut connection and nothing else, audited as the service's 200
// (TestStreamBrokenBeforeFirstByteAuditedAsSent). Failing here, it gets
// the sidecar's 502 (504 for a stall) instead. A chunked body's whole
// first chunk-size line is read and checked (firstChunk, chunkline.go),
// limit being the most the body may hold. Most bodies have bytes
// buffered with the head, and cost no read.
func bodyBegun(br *bufio.Reader, cl int, limit int64) error {
	_, err := br.Peek(1)
	switch {
	case err == nil && cl == -1:
		return firstChunk(br, limit)
	case err == nil, err == io.EOF && cl == -2: // an empty body, delimited by the close
		return nil
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	}
	return timeout(err)
}

// logUpstreamError logs why a round trip failed by its kind only, without
// a byte of the response (issue 12, item 11; see upstreamErrorKind), at
// most once a second with the number of failures left out since the last
// line: an upstream that is down, or a route that fails on purpose, would
// otherwise make one synchronous write to stderr per request.
func (s *Server) logUpstreamError(err error, x *exchange) {
	quiet, ok := s.upLog.pass(limiter.Now())
	if !ok {
		return
	}
	x.logRequestID(s.log.Warn()).Str("error", upstreamErrorKind(err, s.cfg.MaxHeaderBytes)).Uint64("suppressed", quiet).Msg("upstream request failed")
}

// logGate lets one event a second through, counting the others: lock-free
// and without allocation, for the request path.
type logGate struct {
	last  atomic.Int64  // monotonic nanoseconds of the last event let through; 0: none yet
	quiet atomic.Uint64 // events held back since
}

// logGateEvery is the least time between two events a logGate lets through.
const logGateEvery = int64(time.Second)

// pass reports whether the event at now (monotonic nanoseconds) is let
// through, and then how many were held back before it.
func (g *logGate) pass(now int64) (uint64, bool) {
	last := g.last.Load()
	if last != 0 && now-last < logGateEvery || !g.last.CompareAndSwap(last, now) {
		g.quiet.Add(1)
		return 0, false
	}
	return g.quiet.Swap(0), true
}

// conn takes a connection from the pool, or dials one, with its read
// deadline set for this request, and returns when it got it: the request's
// timeouts run from then, not from its arrival, so a request that waited
// for a connection (the pool's cap) keeps its whole upstream timeout.
func (u *origin) conn(connClose bool) (any, net.Conn, time.Time, error) {
	cc, err := u.acquire(0, connClose)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	c := cc.(pooledConn).Conn()
	at := time.Now()
	if err = readBy(c, at.Add(u.readTimeout), u.readTimeout); err != nil {
		u.close(cc)
		return nil, nil, time.Time{}, err
	}
	return cc, c, at, nil
}

// putBack returns c, taken for a request that was then refused before a
// byte of it was written (Server.roundTrip), to the pool, as one that
// comes from it: its next request checks it first (send), as every
// pooled connection's does. Dialed for the refused request, it was marked
// as never used, and the next request wrote itself on it unchecked: a
// service closes a connection that sent nothing once it sat idle past
// its header timeout, and Node and Apache write "408 Request Timeout"
// on it first, which was read as that request's answer and given to its
// client (TestRefusedRequestsConnectionCheckedBeforeReuse).
func (u *origin) putBack(cc any, c net.Conn) {
	u.markUsed(c)
	u.release(cc)
}

// markUsed makes send check c (bytes waiting, closed by the service)
// before writing on it, as it checks a pooled connection.
func (u *origin) markUsed(c net.Conn) {
	if uc, ok := c.(*upConn); ok {
		uc.used = true
	}
}

// send writes req to c within the write timeout, counted from at, unless
// c came from the pool with bytes waiting on it (stray). On a pooled
// socket a request of one write is written and its response awaited in
// one pass (sendWait), encoded by w; otherwise the check and the write are
// calls of their own.
func (u *origin) send(c net.Conn, req *fasthttp.Request, w *wire, at time.Time) (stray bool, err error) {
	if err := writeBy(c, at.Add(u.writeTimeout), u.writeTimeout); err != nil {
		return false, err
	}
	uc, ok := c.(*upConn)
	if !ok || !uc.used {
		if ok {
			uc.used = true
		}
		return false, timeout(w.write(c, req))
	}
	if sw, ok := uc.Conn.(sendWaiter); ok {
		if out := w.encode(req); out != nil {
			rest, stray, err := sw.sendWait(out)
			if err == nil && !stray && len(rest) > 0 { // stray: nothing written, and nothing goes
				_, err = uc.Write(rest)
			}
			w.release()
			return stray, timeout(err)
		}
	}
	if uc.pending() {
		return true, nil
	}
	return false, timeout(w.write(c, req))
}

// sendWaiter is a connection that writes a request and waits for its
// response in one pass through the poller (sockConn, on Linux).
type sendWaiter interface {
	sendWait(p []byte) (rest []byte, stray bool, err error)
}

// done ends a response read whole: the connection goes back to the pool
// only when the response allowed it and not a byte is left in the reader.
func (u *origin) done(cc any, br *bufio.Reader, keep bool) {
	left := br.Buffered() > 0
	u.hc.ReleaseReader(br)
	if keep && !left {
		u.release(cc)
		return
	}
	if left {
		u.dropped.Add(1)
	}
	u.close(cc)
}

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

// plainName reports whether a header name holds neither ' ' nor '_', the
// two bytes readHead looks for in every response name, read eight bytes at
// a time (the last word overlapping the one before): one pass instead of
// two calls of bytes.IndexByte. A word holds byte c when it XOR c in every
// byte has a zero byte, which (w - 0x01..01) &^ w & 0x80..80 tells exactly.
func plainName(k []byte) bool {
	if len(k) < 8 {
		for _, c := range k {
			if c == ' ' || c == '_' {
				return false
			}
		}
		return true
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	var found uint64
	for i := 0; ; i += 8 {
		if i > len(k)-8 {
			i = len(k) - 8
		}
		w := binary.LittleEndian.Uint64(k[i:])
		sp, us := w^(' '*ones), w^('_'*ones)
		found |= (sp-ones)&^sp | (us-ones)&^us
		if i == len(k)-8 {
			return found&highs == 0
		}
	}
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

// timeout maps a network timeout to fasthttp.ErrTimeout, which the
// handler answers with 504.
func timeout(err error) error {
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
		return fasthttp.ErrTimeout
	}
	return err
}

// upConn is a connection to the upstream, with what is needed to check it
// for unread bytes without reading them.
type upConn struct {
	net.Conn
	used bool // it has carried a request, or was put back unused (putBack): it came from the pool
	peek peeker
	lazy bool // Conn sets later deadlines lazily itself (sockConn, Linux)

	// rdl and wdl are the read and write deadlines last set (see readBy).
	rdl, wdl time.Time

	ended bool // a Read found the end of the stream: the service closed (cutShort)

	reg *upConns // the server's open upstream connections, which cut closes
}

// Close closes the connection and forgets it.
func (u *upConn) Close() error {
	u.reg.remove(u)
	return u.Conn.Close()
}

// upConns is the set of a server's open upstream connections. Shutdown
// cuts them when --drain runs out, so the requests waiting on a service
// that does not answer end, answered and audited, before the audit sink
// is flushed; once cut, no connection is dialled.
type upConns struct {
	mu     sync.Mutex
	open   map[*upConn]struct{}
	closed bool
}

// add registers u; it reports false once the set is cut.
func (r *upConns) add(u *upConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.open == nil {
		r.open = map[*upConn]struct{}{}
	}
	r.open[u] = struct{}{}
	return true
}

func (r *upConns) remove(u *upConn) {
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.open, u)
	r.mu.Unlock()
}

// cut closes every open connection and refuses new ones; it returns how
// many it closed.
func (r *upConns) cut() int {
	r.mu.Lock()
	r.closed = true
	open := r.open
	r.open = nil
	r.mu.Unlock()
	for u := range open {
		u.Conn.Close()
	}
	return len(open)
}

// Read is the connection's Read, noting the end of the stream (ended).
func (u *upConn) Read(p []byte) (int, error) {
	n, err := u.Conn.Read(p)
	if err == io.EOF {
		u.ended = true
	}
	return n, err
}

// cutShort reports whether c, the connection a chunked body was read
// from, ended before that body did: fasthttp's body stream reads the end
// of the connection where a chunk size should be as the end of the body
// (a bare io.EOF), so only the connection can tell a body the service
// broke off between two chunks from one that came with its last chunk,
// which is read without reaching the connection's end
// (TestChunkedBodyCutBetweenChunksShowsTheBreak).
func cutShort(c net.Conn) bool {
	u, ok := c.(*upConn)
	return ok && u.ended
}

// readBy sets c's read deadline to t, for a timeout of d. A raw socket
// (sockConn) notes a later deadline without touching its timer, so it is
// given every deadline and times out exactly. On another upstream
// connection a deadline already set at most d/8 before t is kept: under
// load a connection carries request after request, and moving its
// deadlines each time is two timer updates per request. There a response
// may time out up to d/8 early (26.25 s of a 30 s timeout at worst), never
// late; fasthttp's server keeps its write deadlines the same way, with a
// quarter of the timeout.
func readBy(c net.Conn, t time.Time, d time.Duration) error {
	if u, ok := c.(*upConn); ok && !u.lazy {
		if t.Sub(u.rdl) <= d>>3 {
			return nil
		}
		u.rdl = t
	}
	return c.SetReadDeadline(t)
}

// writeBy is readBy for the write deadline.
func writeBy(c net.Conn, t time.Time, d time.Duration) error {
	if u, ok := c.(*upConn); ok && !u.lazy {
		if t.Sub(u.wdl) <= d>>3 {
			return nil
		}
		u.wdl = t
	}
	return c.SetWriteDeadline(t)
}

// dialUpstream dials the service with the configured dialer and wraps the
// connection so that the pool can check it before reuse.
func (s *Server) dialUpstream(addr string) (net.Conn, error) {
	dial := s.cfg.UpstreamDial
	if dial == nil {
		dial = fasthttp.Dial
	}
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	u := s.wrapUpstream(c)
	if !s.ups.add(u) {
		c.Close()
		return nil, errUpstreamCut
	}
	return u, nil
}

// errUpstreamCut refuses a dial after Shutdown cut the upstream
// connections: the sidecar is stopping.
var errUpstreamCut = errors.New("the sidecar is stopping: its drain ran out")

// wrapUpstream wraps a new upstream connection for the pool's checks.
func (s *Server) wrapUpstream(c net.Conn) *upConn {
	raw := rawSock(c)
	return &upConn{Conn: raw, peek: newPeeker(c), lazy: raw != c, reg: &s.ups}
}

// pending reports whether bytes are waiting on the connection, or the
// service closed it, while no request is outstanding. It does not block.
// Connections that are not sockets (in-memory test pipes) report false.
func (u *upConn) pending() bool {
	if u.peek == nil {
		return false
	}
	return u.peek.pending()
}

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
