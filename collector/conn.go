package collector

import (
	"context"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/limiter"
)

// HTTPServer returns an http.Server for c with the collector's connection
// rules (issue 21 item 9): at most MaxConns connections are open at once
// and a client address (an IPv6 one by its /64, as the sidecar counts:
// limiter.PeerKey) holds at most UnauthConnsPerClient that have not yet
// sent an authenticated request (more are closed as they arrive), a
// request's headers (and a TLS handshake) must arrive within
// UnauthTimeout, and an unauthenticated request is answered 401 and its
// connection closed. So an unauthenticated connection lives about
// UnauthTimeout (5 s by default), not the 70 s the header and body
// timeouts allowed together. It speaks HTTP/1.1 only, over TLS too: an
// HTTP/2 connection has no header timeout, so one that sent its preface
// and nothing more held its slot until the idle timeout (1 min), and the
// sidecar's emitter speaks HTTP/1.1 (TestUnauthenticatedTimeoutOverTLSWithH2).
func (c *Collector) HTTPServer() *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Server{Handler: c, ReadHeaderTimeout: c.cfg.UnauthTimeout, ReadTimeout: time.Minute,
		IdleTimeout: time.Minute, ConnContext: c.conns.connContext, ConnState: c.conns.connState, Protocols: &protocols,
		MaxHeaderBytes: MaxHeaderBytes, ErrorLog: c.ErrorLog()}
}

// ErrorLog is what the collector's HTTP servers (HTTPServer's, and the
// caller's for MetricsHandler) take as http.Server.ErrorLog: their
// connection errors counted and logged as JSON, at most one line a second
// (serverlog.go).
func (c *Collector) ErrorLog() *log.Logger { return c.serverLog.Logger() }

// MaxHeaderBytes bounds a request's line and headers on the collector's
// listeners (net/http adds 4 KiB of slack); a longer head is answered 431
// and its connection closed. The head is read before any credential is
// checked, and net/http's default of 1 MiB let a client without one hold
// some 1 MiB of the collector's heap a connection for the header timeout:
// 4 GiB over --max-conns connections, outside the in-flight budget
// (TestUnauthenticatedHeadersBounded). A sender's head (a bearer token,
// the content type and encoding, a user agent) is a few hundred bytes.
const MaxHeaderBytes = 16 << 10

type connStateKey struct{}

// connEntry is one connection's place in the count of its address.
type connEntry struct {
	addr   netip.Addr // its address's key (limiter.PeerKey)
	authed atomic.Bool
	sender string // who first authenticated on it; guarded by connLimiter.mu
	// seq orders the connections by admission, and evicted marks one
	// closed to make room at the cap; both guarded by connLimiter.mu.
	seq     uint64
	evicted bool
}

// connLimiter counts the open connections, and the unauthenticated
// connections of each client address. The zero value (without init)
// limits nothing: a Collector served without HTTPServer's hooks never
// sees an entry.
type connLimiter struct {
	max     int // unauthenticated connections of one address
	maxOpen int // open connections
	// perSender is the most connections one sender authenticates on (0:
	// no cap, when no other sender can send).
	perSender int
	seq       uint64 // connections admitted; guarded by mu
	refused   atomic.Uint64
	capped    atomic.Uint64
	mu        sync.Mutex // guards the following fields
	unauth    map[netip.Addr]int
	byConn    map[net.Conn]*connEntry
	bySender  map[string]int
}

func (l *connLimiter) init(max, maxOpen, perSender int) {
	l.max, l.maxOpen, l.perSender = max, maxOpen, perSender
	l.unauth = make(map[netip.Addr]int)
	l.byConn = make(map[net.Conn]*connEntry)
	l.bySender = make(map[string]int)
}

// connContext admits a new connection, closing it when the collector
// holds maxOpen connections or its address max unauthenticated ones
// already.
func (l *connLimiter) connContext(ctx context.Context, conn net.Conn) context.Context {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return ctx
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key, ok := l.admitLocked(ap.Addr().Unmap())
	if !ok {
		conn.Close() // the server's first read fails and it forgets the conn
		return ctx
	}
	l.seq++
	e := &connEntry{addr: key, seq: l.seq}
	l.byConn[conn] = e
	return context.WithValue(ctx, connStateKey{}, e)
}

// admitLocked counts a new unauthenticated connection from peer under its
// key (limiter.PeerKey: an IPv6 peer by its /64), or reports false,
// counted, past a cap. At maxOpen it closes the oldest connection that
// has not authenticated to make room, and refuses the new one only when
// every connection has: connections without a credential, a few from
// each of many addresses, held all of maxOpen, and a sender's new
// connection was closed at accept for as long as an outsider kept
// reconnecting (TestOutsidersCannotTakeEveryConnection). A sender
// authenticates with its first request, so a connection that waits for
// its headers is the outsider's to lose.
func (l *connLimiter) admitLocked(peer netip.Addr) (key netip.Addr, ok bool) {
	key = limiter.PeerKey(peer)
	if l.unauth[key] >= l.max {
		l.refused.Add(1)
		return key, false
	}
	if len(l.byConn) >= l.maxOpen {
		l.capped.Add(1)
		if !l.evictOldestUnauthLocked() {
			return key, false
		}
	}
	l.unauth[key]++
	return key, true
}

// evictOldestUnauthLocked closes the oldest connection that has not
// authenticated and forgets it, reporting whether there was one. Its
// server goroutine's read fails and it goes; connState finds it gone.
func (l *connLimiter) evictOldestUnauthLocked() bool {
	var oldest net.Conn
	var oe *connEntry
	for c, e := range l.byConn {
		if !e.authed.Load() && e.sender == "" && (oe == nil || e.seq < oe.seq) {
			oldest, oe = c, e
		}
	}
	if oe == nil {
		return false
	}
	oe.evicted = true
	delete(l.byConn, oldest)
	l.releaseLocked(oe.addr)
	oldest.Close()
	return true
}

// open is the number of connections open.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byConn)
}

// connState releases a closed connection's place.
func (l *connLimiter) connState(conn net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.byConn[conn]
	if !ok {
		return
	}
	delete(l.byConn, conn)
	if !e.authed.Load() {
		l.releaseLocked(e.addr)
	}
	if e.sender != "" {
		if l.bySender[e.sender] <= 1 {
			delete(l.bySender, e.sender)
		} else {
			l.bySender[e.sender]--
		}
	}
}

// authenticated takes the connection of a request that sender
// authenticated out of its address's unauthenticated count and counts it
// as the sender's, the first time; it reports false, and counts nothing,
// when the sender holds perSender connections already: a stolen token
// that authenticated connection after connection held every one of
// MaxConns, and the other senders' were closed as they arrived
// (TestOneSenderCannotTakeEveryConnection).
func (l *connLimiter) authenticated(ctx context.Context, sender string) bool {
	e, ok := ctx.Value(connStateKey{}).(*connEntry)
	if !ok {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.sender != "" {
		return true // counted under the sender that first authenticated it
	}
	if e.evicted {
		return false // closed at the cap, and counted nowhere now
	}
	if l.perSender > 0 && l.bySender[sender] >= l.perSender {
		return false
	}
	e.sender = sender
	l.bySender[sender]++
	if e.authed.CompareAndSwap(false, true) {
		l.releaseLocked(e.addr)
	}
	return true
}

// isAuthenticated reports whether the connection of ctx sent an
// authenticated request; true when it is not tracked (a Collector served
// without HTTPServer's hooks).
func (l *connLimiter) isAuthenticated(ctx context.Context) bool {
	e, ok := ctx.Value(connStateKey{}).(*connEntry)
	return !ok || e.authed.Load()
}

func (l *connLimiter) releaseLocked(a netip.Addr) {
	if l.unauth[a] <= 1 {
		delete(l.unauth, a)
		return
	}
	l.unauth[a]--
}
