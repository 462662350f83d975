package dataplane

import (
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// conn is a connection accepted by Serve. fasthttp serves the requests of
// one connection one after another on one goroutine, so they take turns on
// one exchange: no pool round trip per request (about 15 ns of
// BenchmarkDecide) and the peer address is parsed once, at accept.
//
// The exchange comes from the pool on the first request and goes back
// when fasthttp reports the connection closed (connState), which it does
// from the serving goroutine after the last request. Close itself is not
// the place: Shutdown may call it from another goroutine while a request
// is still being served, and a pooled exchange must have one owner.
type conn struct {
	net.Conn
	peer netip.Addr
	x    *exchange // nil until the first request; used only by the serving goroutine
}

// listener wraps each accepted TCP connection in a conn. Other kinds (a
// TLS listener's) pass through unwrapped, so that fasthttp still sees
// their own type, and their requests use the pool.
type listener struct{ net.Listener }

// Accept returns the next connection, wrapped if it is TCP.
func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*net.TCPConn); ok {
		return newConn(c), nil
	}
	return c, nil
}

func newConn(c net.Conn) *conn { return &conn{Conn: c, peer: tcpAddr(c.RemoteAddr())} }

// tcpAddr is the address of a TCP peer, IPv4 unmapped; invalid for other
// kinds of address.
func tcpAddr(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// connState gives a closed connection's exchange back to the pool.
func (s *Server) connState(c net.Conn, st fasthttp.ConnState) {
	if st != fasthttp.StateClosed {
		return
	}
	if cc, ok := c.(*conn); ok && cc.x != nil {
		x := cc.x
		cc.x, x.conn = nil, nil
		s.pool.Put(x)
	}
}

// begin returns the exchange for the request in ctx, which arrived at mono
// (limiter clock) and wall (unix nanoseconds), with its peer address set:
// the connection's own exchange when Serve accepted the connection, else
// one from the pool.
func (s *Server) begin(ctx *fasthttp.RequestCtx, mono, wall int64) *exchange {
	var x *exchange
	if c, ok := ctx.Conn().(*conn); ok {
		if c.x == nil {
			c.x = s.pool.Get().(*exchange)
			c.x.conn = c
		}
		x = c.x
		x.peer = c.peer
	} else {
		x = s.pool.Get().(*exchange)
		x.peer = tcpAddr(ctx.RemoteAddr())
	}
	x.mono, x.wall = mono, wall
	return x
}

// end readies x for its next request: reset for its connection, or back
// to the pool. Buffers a huge request grew are dropped, so they do not pin
// memory for the life of a connection or the pool.
func (s *Server) end(x *exchange) {
	if cap(x.path) > maxPooled || cap(x.uri) > maxPooled || cap(x.buf) > maxPooled {
		x.path, x.uri, x.buf = nil, nil, nil
	}
	x.reset()
	if x.conn == nil {
		s.pool.Put(x)
	}
}
