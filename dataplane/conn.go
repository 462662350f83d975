package dataplane

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/limiter"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// conn is a connection accepted by Serve. fasthttp serves the requests of
// one connection one after another on one goroutine, so they take turns on
// one exchange: no pool round trip per request (one of the savings
// BenchmarkDecide measured; docs/performance.md) and the peer
// address is parsed once, at accept.
//
// The exchange comes from the pool on the first request and goes back
// when fasthttp reports the connection closed (connState), which it does
// from the serving goroutine after the last request. Close itself is not
// the place: Shutdown may call it from another goroutine while a request
// is still being served, and a pooled exchange must have one owner.
type conn struct {
	net.Conn
	peer   netip.Addr
	x      *exchange // nil until the first request; used only by the serving goroutine
	l      *listener // counts the connection; nil when none does
	closed atomic.Bool

	// tc is the TLS side of a connection the listener serves with TLS;
	// ids are the identities of its verified client certificate, and
	// certEnd when it or its chain expires, worked out on the first
	// request (tls.go). Used only by the serving goroutine.
	tc       *tls.Conn
	ids      []string
	idsDone  bool
	certEnd  int64  // unix nanoseconds at which the first certificate of its chain expires
	certBorn int64  // unix nanoseconds of its certificate's notBefore (max_token_age)
	caGen    uint64 // the TLS configuration generation its certificate was verified under (certReloader.recheck)
	// certDenied is why a reload ended the authentication of its
	// certificate (a CRL revoking it: audit.CertRevoked), else Allowed.
	certDenied audit.Decision

	// written counts the bytes written to the client (Write), so that a
	// streamed response can tell whether any of it left (stream.go).
	// Used only by the serving goroutine.
	written int64
	// wfail says a write to the client failed (its write timeout passed
	// while it read too slowly, or it reset the connection): a streamed
	// response whose last bytes met it did not all leave (stream.go).
	// Used only by the serving goroutine.
	wfail bool
	// timing says Write is timing its writes, while a response streams
	// (stream.go: arm), and writing sums the time they took: a streamed
	// response whose time ran out weighs the client's share of it against
	// the upstream's. Used only by the serving goroutine.
	timing  bool
	writing time.Duration

	head headScan // the request head being read (headend.go); used only by the serving goroutine
	// cookieDeny is the head of the 400's body naming a cookie of
	// refuse_cookies the check before the body found (prebody.go): a
	// chunked body refused past preBodyFree loses its headers, and
	// errorHandler answers it naming the cookie still; a small one read
	// whole comes to the handler, whose 400 takes it from here
	// (cookieDenial). begin clears it for a request not refused so: a
	// 400 closes its connection.
	cookieDeny []byte

	// chunkLeft is what may still be read for a chunked body, framing
	// included, while chunkOn (chunkbudget.go); used only by the serving
	// goroutine.
	chunkLeft int64
	chunkOn   bool

	// wire and plain are the bytes of a TLS connection read from the
	// client and handed on decrypted (tlsWire); used only by the serving
	// goroutine.
	wire, plain int64

	// chunk follows a chunked body to its trailer section, which head
	// then follows (trailerend.go). failNext is what the next Read
	// returns without reading: a head or trailer section that ended badly
	// in bytes read before it was followed (pending). Used only by the
	// serving goroutine. They come last, after the fields every request
	// uses (BenchmarkDecide).
	chunk    chunkScan
	failNext error

	// pre is what the request being read was refused for before the
	// handler runs (pre.kind, refusal.go: a head or trailer section that
	// ended badly, a refusal of the check before the body, preDecide),
	// with what the handler's record names of the caller. A chunked body
	// refused past preBodyFree loses its headers, and errorHandler
	// answers and records it so, not 413; begin hands the kind to the
	// handler and clears it (handOver). Used only by the serving
	// goroutine.
	pre preRefusal
	// headIn says the head of the request being read, one with a body,
	// was received (followBody): fasthttp resets a request whose body
	// fails to be read and hands errorHandler the read's own error, which
	// nothingRead took for a connection that sent nothing, so the request
	// was closed unanswered and unaudited (attack135,
	// TestStalledBodyAnsweredAndAudited). begin clears it. Used only by
	// the serving goroutine.
	headIn bool
	// names is the head of the request being read, one with a body, as
	// fasthttp parsed it (followBody), for errorHandler to name it when
	// its body fails: only while headIn says it is this request's.
	names headNames
	// headPrep is the tables the check before the body (headerReceived)
	// set the body's limit on, for a body it may refuse for its size:
	// errorHandler and expect decide that request on them, not on a
	// policy swapped in since (TestSizeRefusalDecidedOnHeadCheckPolicy).
	// begin clears it. Used only by the serving goroutine.
	headPrep *prepared
}

// Read reads from the client, following each request head (headScan):
// the read that ends a head badly returns its bytes with errHeadEnd, so
// fasthttp stops waiting for the rest of a head that has ended, and the
// request is refused (begin marks it, should fasthttp parse it all the
// same).
func (c *conn) Read(p []byte) (int, error) {
	if c.failNext != nil { // fasthttp waits for a CRLF CRLF that did not end the head or section
		return 0, c.failNext
	}
	if !c.head.on && !c.chunk.on && c.head.left == 0 {
		// Bytes no scan follows: fasthttp's buffer may move under what
		// the head kept (pending), and where the next head begins is
		// not known.
		c.head.ended = false
	}
	n, err := c.Conn.Read(p)
	c.plain += int64(n) // read by tlsWire when TLS
	if c.head.left > 0 && n > 0 {
		c.readSized(p[:n]) // trailerend.go
	}
	if c.head.on && n > 0 && c.head.feed(p[:n]) {
		c.pre.refuse(c.head.endRefusal())
		return n, c.head.endErr()
	}
	if c.chunkOn {
		if c.chunkLeft -= int64(n); c.chunkLeft < 0 {
			return n, errChunkFraming
		}
		if c.chunk.on && n > 0 && c.followed(p[:n]) {
			c.pre.refuse(refusalTrailer)
			return n, errTrailerEnd
		}
	}
	if err == io.EOF && c.headIn {
		return n, errBodyCut
	}
	return n, err
}

// errBodyCut is what Read returns for the client's close in the middle of
// a request's body (its head received: headIn). fasthttp's chunk reader
// hands on io.EOF where a chunk size should begin (after the head, after a
// whole chunk), which its server takes for a client closing between
// requests: the request went unanswered and unaudited, and the answers to
// the requests pipelined before it, still in fasthttp's write buffer, were
// dropped unsent though their records said they were sent
// (TestChunkedBodyCutAtChunkBoundaryAnswered). Any other error has the
// body answered 400 and recorded (errorHandler), as a cut inside a chunk
// or a declared body already was.
var errBodyCut = io.ErrUnexpectedEOF

// Write writes to the client and then yields the processor to the other
// runnable goroutines (issue 18). The serving goroutine's next step after
// a response is to read the connection's next request; under load the
// client has not sent it yet, so the read fails (EAGAIN) and the goroutine
// parks until the poller finds the request: one more system call per
// request, about 1 us on this project's VM. By the time the goroutines
// serving the other connections have run, the request has mostly arrived
// and the read takes it at once. With nothing else runnable the yield
// returns at once, without a system call.
func (c *conn) Write(p []byte) (int, error) {
	if c.timing {
		return c.timedWrite(p)
	}
	n, err := c.Conn.Write(p)
	c.written += int64(n)
	if err != nil {
		c.wfail = true
	}
	runtime.Gosched()
	return n, err
}

// timedWrite is Write while a response streams: timed, and without the
// yield. A stream's next step is its next read from the upstream, not a
// request the client may not have sent, and each yield put the stream
// behind every runnable goroutine, for every 4 KiB fasthttp wrote: with
// the process busy, a stream's time went to waiting for a processor,
// counted neither as the client's nor as the upstream's.
func (c *conn) timedWrite(p []byte) (int, error) {
	began := time.Now()
	n, err := c.Conn.Write(p)
	c.writing += time.Since(began)
	c.written += int64(n)
	if err != nil {
		c.wfail = true
	}
	return n, err
}

// Close closes the connection and uncounts it, once.
func (c *conn) Close() error {
	if c.l != nil && c.closed.CompareAndSwap(false, true) {
		c.l.release(c.peer)
	}
	return c.Conn.Close()
}

// listener wraps each accepted TCP connection in a conn and holds the
// open connections under a cap, in total and per peer address: a
// connection past either is closed at once, unread. A connection of
// another kind, from a listener of the caller's, is wrapped too but not
// counted, so that its requests' framing is followed (headend.go,
// trailerend.go, chunkbudget.go): they passed through unwrapped, and a
// trailer section ending in a bare LF waited for the read timeout
// (TestCallerListenerFollowed). One that is TLS already (a
// tls.NewListener's) cannot be wrapped: fasthttp must see its type to
// handshake it, and the sidecar would see no bytes on the wire, so no
// client certificate, no refusal before the body, no framing followed.
// Serve's listener refuses it (refuseTLS): it closes it unread and Serve
// returns ErrTLSListener (TestServeRefusesCallerTLSListener); the admin
// listener's passes through unwrapped.
//
// Accept errors other than the listener being closed are temporary: out
// of file descriptors (EMFILE, ENFILE) or buffers is a load condition to
// wait out, not a reason to stop serving (issue 12, item 10). Accept logs
// them at most once a second, backs off from 5 ms to 1 s as net/http's
// Server does, and tries again; connections being served are untouched.
type listener struct {
	net.Listener
	log      zerolog.Logger
	tls      *tls.Config   // nil: plain TCP
	certs    *certReloader // its configurations, when TLS
	maxConns int64
	maxPerIP int
	refusal  string // the log line of a connection over the caps, naming them
	// onPanic is told of a panic logLimited recovered (Server.recovered);
	// nil: none is reported.
	onPanic func(where string, p any)

	open       atomic.Int64
	refused    atomic.Uint64 // connections closed for a cap
	acceptErrs atomic.Uint64
	uncounted  atomic.Bool // a connection of another kind (a caller's listener's) passed, not in open
	refuseTLS  bool        // Serve's: a connection TLS already is refused (ErrTLSListener)
	shut       atomic.Bool // closed (Close)

	mu      sync.Mutex // guards the following fields
	perIP   map[netip.Addr]int
	lastLog time.Time
	quiet   int // messages not logged since lastLog
}

func newListener(ln net.Listener, maxConns, maxPerIP int, log zerolog.Logger) *listener {
	return &listener{Listener: ln, log: log, maxConns: int64(maxConns), maxPerIP: maxPerIP, perIP: map[netip.Addr]int{},
		refusal: "connection refused: over --max-conns or --max-conns-per-ip"}
}

// Accept returns the next connection within the caps, wrapped if it is TCP.
func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if closed(err) {
				return nil, err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.acceptErrs.Add(1)
			l.logLimited("accept failed; retrying", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if _, ok := c.(*net.TCPConn); !ok {
			if _, isTLS := c.(fasthttpTLS); isTLS {
				if l.refuseTLS {
					c.Close() // unread: no handshake begun
					return nil, ErrTLSListener
				}
				l.uncounted.Store(true)
				return c, nil
			}
			l.uncounted.Store(true)
			return newConn(c), nil
		}
		cc := newConn(c)
		if !l.admit(cc.peer) {
			// Counted before the close: a peer that sees its connection
			// closed finds it in the count (refused was read as 0 under
			// load by TestTLSHandshakeBoundedAndCounted).
			l.refused.Add(1)
			c.Close()
			l.logLimited(l.refusal, nil, 0)
			continue
		}
		cc.l = l
		if l.tls != nil {
			cc.caGen = l.certs.generation() // before the handshake loads one
			cc.tc = tls.Server(tlsWire{cc.Conn, cc}, l.tls)
			cc.Conn = cc.tc
			return tlsConn{cc}, nil
		}
		return cc, nil
	}
}

// Close closes the listener once: again, as Shutdown does after Serve
// closed it refusing a TLS connection (ErrTLSListener), it does nothing.
func (l *listener) Close() error {
	if l.shut.Swap(true) {
		return nil
	}
	return l.Listener.Close()
}

// fasthttpTLS is what fasthttp (v1.74.0, server.go: tlsConn) takes for a
// TLS connection, to handshake it and read its state.
type fasthttpTLS interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// closed reports whether err says the listener was closed. Listeners that
// are not the net package's (fasthttputil's in-memory one) say so only in
// words, which is what fasthttp's own accept loop checks too.
func closed(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "use of closed network connection")
}

// admit counts a new connection from peer (an IPv6 peer by its /64, see
// limiter.PeerKey), or reports false past a cap.
func (l *listener) admit(peer netip.Addr) bool {
	if l.open.Add(1) > l.maxConns {
		l.open.Add(-1)
		return false
	}
	peer = limiter.PeerKey(peer)
	l.mu.Lock()
	n := l.perIP[peer]
	if n >= l.maxPerIP {
		l.mu.Unlock()
		l.open.Add(-1)
		return false
	}
	l.perIP[peer] = n + 1
	l.mu.Unlock()
	return true
}

// release uncounts a closed connection from peer.
func (l *listener) release(peer netip.Addr) {
	peer = limiter.PeerKey(peer)
	l.mu.Lock()
	if n := l.perIP[peer]; n <= 1 {
		delete(l.perIP, peer)
	} else {
		l.perIP[peer] = n - 1
	}
	l.mu.Unlock()
	l.open.Add(-1)
}

// logLimited logs msg at most once a second, with the number of messages
// left out since the last one. Accept calls it, and fasthttp's Serve
// calls Accept outside any recover: a log writer that panicked there
// took the whole sidecar down (TestAcceptLogPanicKeepsServing), so it
// recovers (logPanicked). One defer per refused connection or failed
// accept, not per connection served.
func (l *listener) logLimited(msg string, err error, delay time.Duration) {
	defer l.logPanicked()
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.lastLog) < time.Second {
		l.quiet++
		l.mu.Unlock()
		return
	}
	quiet := l.quiet
	l.lastLog, l.quiet = now, 0
	l.mu.Unlock()
	ev := l.log.Warn().Int("suppressed", quiet).Int64("open_conns", l.open.Load())
	if err != nil {
		ev = ev.Err(err).Dur("retry_in", delay)
	}
	ev.Msg(msg)
}

// logPanicked recovers a panic of logLimited and reports it.
func (l *listener) logPanicked() {
	if p := recover(); p != nil && l.onPanic != nil {
		l.onPanic("listener log", p)
	}
}

func newConn(c net.Conn) *conn {
	return &conn{Conn: rawSock(c), peer: tcpAddr(c.RemoteAddr()), head: headScan{headState: headState{on: true}}}
}

// tcpAddr is the address of a TCP peer, IPv4 unmapped; invalid for other
// kinds of address.
func tcpAddr(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// connState gives a closed connection's exchange back to the pool. A
// response stream still armed then is one fasthttp gave up on unwritten:
// it runs a hijack handler (stream10.go) only after flushing the answers
// to earlier pipelined requests, and when that flush fails it closes the
// connection without running the handler or resetting the response, so
// nothing else would ever close the stream. It is closed here, which frees
// the concurrency slot and the upstream connection and writes the audit
// record (TestPipelinedHijackFailureReleasesSlot).
func (s *Server) connState(c net.Conn, st fasthttp.ConnState) {
	if st != fasthttp.StateClosed {
		return
	}
	if cc := ownConn(c); cc != nil && cc.x != nil {
		x := cc.x
		if b := x.body; b != nil && b.armed {
			b.Close()
		}
		cc.x, x.conn = nil, nil
		s.pool.Put(x)
	}
}

// ownConn returns the conn of a connection Serve accepted, plain or TLS,
// or nil for any other.
func ownConn(c net.Conn) *conn {
	switch c := c.(type) {
	case *conn:
		return c
	case tlsConn:
		return c.conn
	}
	return nil
}

// begin returns the exchange for the request in ctx, with its peer
// address set: the connection's own exchange when Serve accepted the
// connection, else one from the pool. Its arrival time is arrive's or
// arrived's to set, once the caller's recover is in place: reading a Config.Clock
// that panicked before it ended the process (TestClockPanicKeepsServing).
func (s *Server) begin(ctx *fasthttp.RequestCtx) *exchange {
	var x *exchange
	if c := ownConn(ctx.Conn()); c != nil {
		if c.x == nil {
			c.x = s.pool.Get().(*exchange)
			c.x.conn = c
		}
		x = c.x
		x.peer = c.peer
		// The head of this request was read and its body too; the next
		// bytes read are the next request's, after those read already.
		var next []byte
		known := false
		if c.head.ended {
			next, known = c.pending(ctx)
		}
		if c.pre.kind == refusalNone {
			if c.cookieDeny != nil { // a store only when set: it takes a write barrier's test
				c.cookieDeny = nil
			}
		} else {
			c.handOver(x) // refusal.go
		}
		c.headIn = false
		if c.headPrep != nil {
			c.headPrep = nil
		}
		c.head.restart(known)
		if c.chunkOn {
			c.chunkOn, c.chunk = false, chunkScan{}
		}
		if c.failNext != nil {
			c.failNext = nil
		}
		if len(next) > 0 && c.head.feed(next) {
			c.pre.refuse(refusalHeadEnd)
			c.failNext = errHeadEnd
		}
	} else {
		x = s.pool.Get().(*exchange)
		x.peer = tcpAddr(ctx.RemoteAddr())
	}
	x.bodyIn = hasBody(&ctx.Request.Header) // decide, record and dropBigBody ask x
	return x
}

// arrived sets the time x's request arrived, mono (limiter clock) and
// wall (unix nanoseconds), and readies the client certificate of its
// connection, which is judged at mono (tlsCert). The handler's is
// arrive.
func (s *Server) arrived(x *exchange, mono, wall int64) {
	x.mono, x.wall, x.at = mono, wall, wall
	if c := x.conn; c != nil {
		if c.tc != nil { // a plain connection's request makes no call (issue 18)
			s.tlsCert(c, mono)
		}
		if c.idsDone { // else x has no certificate, as reset left it: identities never ran (a plain connection)
			x.certFrom(c)
		}
	}
}

// tlsCert readies the verified client certificate of c, a TLS
// connection, for its request: its identities, worked out on the
// connection's first request, checked again when the TLS configuration
// changed since (a client CA taken out, a CRL revoking it). begin does so
// for each request, and the check before the body (preDecide) for
// a head without a key or token; certFrom then hands it to the exchange.
func (s *Server) tlsCert(c *conn, mono int64) {
	c.identities(s.certs)
	s.certs.recheck(c, mono)
}

// certFrom gives x the client certificate of its connection c (tlsCert).
func (x *exchange) certFrom(c *conn) {
	x.certIDs, x.certEnd, x.certBorn, x.certDenied = c.ids, c.certEnd, c.certBorn, c.certDenied
}
