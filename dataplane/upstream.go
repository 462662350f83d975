package dataplane

import (
	"bufio"
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
		last, err := bodyBegun(br, cl, limit)
		if err != nil {
			return answer{}, err
		}
		if last == 0 {
			body.start(u, c, cc, br, cl, limit, keep)
			return answer{streamed: true, scrub: hd.scrub}, nil
		}
		// A chunked body whose first chunk is the last: its trailer
		// section is read and checked here (lastChunk), and the body,
		// empty, read whole.
		if err := lastChunk(br, last, &body.up.Header); err != nil {
			return answer{}, err
		}
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
// limit being the most the body may hold; last is that line's length
// when the first chunk is the last. Most bodies have bytes buffered with
// the head, and cost no read.
func bodyBegun(br *bufio.Reader, cl int, limit int64) (last int, err error) {
	_, err = br.Peek(1)
	switch {
	case err == nil && cl == -1:
		return firstChunk(br, limit)
	case err == nil, err == io.EOF && cl == -2: // an empty body, delimited by the close
		return 0, nil
	}
	return 0, unexpectedEOF(err)
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
