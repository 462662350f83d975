package dataplane

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// responseBody streams a large upstream response body to the client. The
// handler returns with the response head set and the body as a stream;
// fasthttp then writes the body from Read and calls Close when it is done
// or failed (Response.writeBodyStream always closes), or when it resets
// the response unwritten. Close gives the upstream connection back (only
// if the body was read to its end with nothing left over), then completes
// the exchange: the concurrency slot is held and the audit record written
// until the body is out, so that the record carries the bytes sent.
//
// Each exchange has one, made on its first streamed response and reused
// (fasthttp serves one request of a connection at a time).
type responseBody struct {
	s   *Server
	ctx *fasthttp.RequestCtx
	x   *exchange

	up    fasthttp.Response // holds fasthttp's stream over br (and any trailers, dropped)
	r     io.Reader
	u     *origin
	c     net.Conn
	cc    any
	br    *bufio.Reader
	cl    int   // declared length: -1 chunked, -2 until the connection closes
	n     int64 // bytes read so far
	limit int64
	keep  bool // the response allows reusing the connection
	eof   bool
	bad   bool           // broken: audited as upstream_error
	slow  bool           // broken by the upstream timeout: audited as upstream_timeout
	over  bool           // past the limit: audited as response_too_large
	cut   audit.Decision // not Allowed: ended by a push that refuses the request now (stillAllowed)
	armed bool           // Close completes the exchange
	// sent is what the exchange's connection had written to the client
	// (conn.written) when the response was handed to fasthttp (arm).
	sent int64

	// until is when the response must be out (WriteTimeout from its
	// start); zero: no bound. Reads from the upstream stop then, as the
	// client's writes do: fasthttp writes a body of known length through
	// a 4 KiB buffer, so a body trickling in would reach the client's
	// write deadline only when that buffer filled.
	until time.Time
	// waited is the time spent in reads from the upstream, wrote what
	// the exchange's connection had spent in writes to the client
	// (conn.writing) when the response was armed: when until passes,
	// they say whose the time was (upstreamLate).
	waited time.Duration
	wrote  time.Duration
}

// start readies b to stream a body of declared length cl (-1 chunked, -2
// until the connection closes) from br.
func (b *responseBody) start(u *origin, c net.Conn, cc any, br *bufio.Reader, cl int, limit int64, keep bool) {
	b.u, b.c, b.cc, b.br, b.cl, b.limit, b.keep = u, c, cc, br, cl, limit, keep && cl != -2
	b.n, b.eof, b.bad, b.slow, b.over, b.until, b.waited = 0, false, false, false, false, time.Time{}, 0
	b.cut = audit.Allowed
	b.up.Reset()
	b.up.StreamBody = true
	b.up.Header.SetContentLength(cl)
	b.up.ReadBody(br, 0) // with StreamBody set, this only wraps br
	b.r = b.up.BodyStream()
}

// Read reads the body. The upstream read deadline moves with each read,
// so UpstreamTimeout bounds a stall, not the time a slow client takes; it
// is never later than until, which bounds the whole response. fasthttp
// reads it after the handler returned, under a recover of its own that
// closes the connection but not the stream (Response.writeBodyStream):
// a panic judging a piece again (stillAllowed) was counted nowhere and
// recorded as allowed, cut by the client (TestStreamReadPanicRecorded).
// It ends the stream (readPanicked).
func (b *responseBody) Read(p []byte) (n int, err error) {
	defer b.readPanicked(&n, &err) // open-coded: one return (BenchmarkStreamRead)
	return b.read(p)
}

// read is Read, without the recover.
func (b *responseBody) read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	now := time.Now()
	t := now.Add(b.u.readTimeout)
	if !b.until.IsZero() {
		if !now.Before(b.until) {
			// The time ran out between two reads, while fasthttp wrote
			// to the client (it reads the body only between its writes)
			// or waited for a processor: whose the time was,
			// upstreamLate says.
			if !b.upstreamLate() {
				return 0, errClientSlow
			}
			b.bad, b.slow = true, true
			return 0, errBodyBroken
		}
		if b.until.Before(t) {
			t = b.until
		}
	}
	if err := readBy(b.c, t, b.u.readTimeout); err != nil {
		b.bad = true
		return 0, err
	}
	n, err := b.r.Read(p)
	b.waited += time.Since(now)
	if !b.stillAllowed() {
		return 0, errResponseCut // what was read after the push is not sent
	}
	b.n += int64(n)
	if b.n > b.limit {
		n -= int(b.n - b.limit)
		b.n, b.over = b.limit, true
		return n, errResponseTooLarge
	}
	switch err {
	case nil:
	case io.EOF:
		if b.cl == -1 && cutShort(b.c) {
			// The service closed between two chunks: the client must
			// see the break, not a last chunk the service never sent.
			b.bad = true
			return n, errBodyBroken
		}
		b.eof = true
	default:
		// fasthttp's parse errors quote what they refused; the server
		// logs what Read returns, so it gets no upstream byte.
		if errors.Is(err, os.ErrDeadlineExceeded) && !b.until.IsZero() && !time.Now().Before(b.until) &&
			!b.upstreamLate() {
			// The response's time ran out in this read, but most of it
			// went to a client reading slowly: the upstream was late
			// only for what little was left.
			return n, errClientSlow
		}
		b.bad, b.slow = true, errors.Is(err, os.ErrDeadlineExceeded)
		err = errBodyBroken
	}
	return n, err
}

// readPanicked recovers a panic of Read, which then ends the stream with
// errStreamPanicked, recorded internal_error (Close), and reports it
// (Server.recovered).
func (b *responseBody) readPanicked(n *int, err *error) {
	if p := recover(); p != nil {
		b.cut = audit.InternalError
		*n, *err = 0, errStreamPanicked
		b.s.recovered("response stream", p)
	}
}

var errStreamPanicked = errors.New("dataplane: reading the upstream response body panicked")

// upstreamLate reports whether a response whose time ran out ran out for
// the upstream: more of it went to reads from the upstream than to writes
// to the client. Cut by the client otherwise (Close): allowed,
// "cut":"client", so that a client reading slowly does not make its own
// download read as refused (TestSteadySlowReaderCutAudited), while an
// upstream trickling its body is audited upstream_timeout
// (TestStreamedBodyTrickleEndsAtWriteTimeout).
//
// Both sums count the sidecar's own waits for a processor inside a read
// or a write, and neither counts them between the two (fasthttp's copy
// loop). The rules before misread a loaded node either way: time that
// ran out between two reads was always the client's, so a trickle was
// audited as cut by the client (CI, with the package's other tests in
// the process: TestStreamedBodyTrickleEndsAtWriteTimeoutBusy), and time
// that ran out in a read was the upstream's once half of it had gone to
// reads, so a steady slow reader whose upstream was starved now and then
// was audited upstream_timeout. Where the connection is not one Serve
// accepted, writes are not timed, and the upstream is late when it took
// half the time.
func (b *responseBody) upstreamLate() bool {
	if c := b.x.conn; c != nil && c.timing {
		return b.waited > c.writing-b.wrote
	}
	return 2*b.waited >= b.s.cfg.WriteTimeout
}

var errClientSlow = errors.New("dataplane: the client took the response more slowly than the write timeout allows")

var errBodyBroken = errors.New("dataplane: the upstream response body broke off or was malformed")

var errResponseCut = errors.New("dataplane: a policy push refused the request while its response streamed")

// stillAllowed reports whether the request may go on receiving its
// response after tables were replaced (a push from etcd, a reload) or
// its credential lapsed (lapsed: a JWKS refresh that dropped its token's
// signing key, a CRL or client CA reload that revoked its certificate)
// since it was decided: it is decided again on the tables in force
// (decideAgain) at the time it was sent, x.at, so a revoked key or
// token, a suspended client or tenant, a scope or route withdrawn ends a
// download already streaming (a bulk export under a stolen key ran to
// its end after the key was revoked), while a credential that simply
// expires during a long download does not. A JWKS refresh or a CRL
// replaces no tables: compared by pointer alone, a token whose key the
// provider took out streamed on (TestJWKSKeyDroppedCutsStreamingResponse).
// Nothing changed costs a pointer compare and lapsed's few compares.
func (b *responseBody) stillAllowed() bool {
	if b.cut != audit.Allowed {
		return false
	}
	if b.x.prep == b.s.prepared.Load() && !b.s.lapsed(b.x) {
		return true
	}
	b.cut = b.s.decideAgain(b.ctx, b.x)
	return b.cut == audit.Allowed
}

// Close releases the upstream connection and settles the exchange.
func (b *responseBody) Close() error {
	if b.r != nil {
		keep := b.keep && b.eof && !b.bad && !b.over && b.br.Buffered() == 0
		b.up.CloseBodyStream()
		b.u.hc.ReleaseReader(b.br)
		if keep {
			b.u.release(b.cc)
		} else {
			b.u.close(b.cc)
		}
		b.r, b.c, b.cc, b.br = nil, nil, nil, nil
	}
	if b.armed {
		b.armed = false
		x := b.x
		if x.conn != nil {
			x.conn.timing = false
		}
		x.streamed = b.n
		switch {
		case b.cut != audit.Allowed:
			x.rec.Decision = b.cut
		case b.over:
			x.rec.Decision = audit.ResponseTooLarge
		case b.slow:
			x.rec.Decision = audit.UpstreamTimeout
		case b.bad:
			x.rec.Decision = audit.UpstreamError
		}
		// Cut by the client: the body stopped before its end (or its last
		// write failed) with nothing wrong upstream and no push, so the
		// write to the client failed, a slow reader's write timeout or a
		// reset. The decision stays allowed: what left did leave, and a
		// client must not make its own access read as refused
		// (TestSlowReaderCutAudited).
		whole := b.eof || b.cl >= 0 && b.n >= int64(b.cl)
		clientCut := b.cut == audit.Allowed && !b.over && !b.bad && (!whole || x.conn != nil && x.conn.wfail)
		x.rec.ClientCut = clientCut
		if (b.over || b.bad || b.cut != audit.Allowed || clientCut) && x.conn != nil && x.conn.written == b.sent {
			// Broken (or cut by a push) before fasthttp flushed a byte of it (its 4 KiB write
			// buffer holds the head and the body's start; the connection
			// is closed with them): the client got a cut connection, no
			// status and no bytes, and the record says so
			// (TestStreamBrokenBeforeFirstByteAuditedAsSent).
			x.streamed, x.cut = 0, true
		}
		b.s.settle(b.ctx, x)
	}
	return nil
}

// stream hands the upstream body to the client as a stream; x completes
// when fasthttp closes it. The length is the one the body was framed by,
// not what the response header says after scrubbing (an upstream that
// lists Content-Length in Connection would otherwise get a body written
// after a "Content-Length: 0").
func (s *Server) stream(ctx *fasthttp.RequestCtx, x *exchange) {
	b := x.body
	b.arm(s, ctx, x)
	b.until = time.Now().Add(s.cfg.WriteTimeout)
	ctx.Response.SetBodyStream(b, max(b.cl, -1))
}

// arm makes b complete x when it closes, noting what x's connection has
// written so far.
func (b *responseBody) arm(s *Server, ctx *fasthttp.RequestCtx, x *exchange) {
	b.s, b.ctx, b.x, b.armed, b.sent = s, ctx, x, true, 0
	if x.conn != nil {
		b.sent, b.wrote = x.conn.written, x.conn.writing
		x.conn.timing = true
	}
}

// detach stops a stream from completing x, for a handler that answers
// something else after all (a panic); the upstream connection, if b holds
// one, is closed. It does nothing to a body not started. The
// connection's writes stop being timed (arm): Close, which clears that,
// does so only while b is armed, and the connection went on timing
// every later request's writes, without their yield
// (TestDetachedStreamStopsTimingWrites).
func (b *responseBody) detach() {
	if b.armed && b.x.conn != nil {
		b.x.conn.timing = false
	}
	b.armed = false
	b.eof = false
	b.Close()
}
