// Upstream connections: the set Shutdown cuts, the dial and its wrapper, the checks before reuse,
// and the read and write deadlines.

package dataplane

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

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
