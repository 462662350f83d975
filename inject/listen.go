package inject

import (
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/portcullis/portcullis/limiter"
)

// The webhook's connection caps (Listener). The API server holds a few
// connections to it (one or two over HTTP/2), but the NetworkPolicy lets
// every pod reach its port, and an idle HTTP/2 connection costs the
// injector about 48 KiB: 2,000 of them, from one pod, took 95 MiB of its
// 128Mi. MaxConns of them at their worst (HTTP2, MaxHeaderBytes) stay
// within about 40 MiB; MaxConnsPerPeer makes one pod unable to take them
// all.
const (
	MaxConns        = 128
	MaxConnsPerPeer = 16
)

// HTTP2 is the webhook server's HTTP/2 configuration: few streams per
// connection, and a connection's unread request bodies buffered to
// 64 KiB (the least HTTP/2 allows) rather than 1 MiB, which MaxConns
// connections would have held past the memory limit while their
// handlers waited for room (maxBodyBytesHeld).
func HTTP2() *http.HTTP2Config {
	return &http.HTTP2Config{MaxConcurrentStreams: 8, MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 64 << 10}
}

// Listener caps the connections ln hands out: at most MaxConns open, and
// MaxConnsPerPeer from one address (limiter.PeerKey: an IPv6 one by its
// /64, which one host holds whole); one past either is closed as it arrives, unread.
// The connections already open, the API server's kept-alive ones among
// them, are served on.
func Listener(ln net.Listener) net.Listener {
	return &capped{Listener: ln, perPeer: map[netip.Addr]int{}}
}

type capped struct {
	net.Listener
	mu      sync.Mutex // guards the following fields
	open    int
	perPeer map[netip.Addr]int
}

// Accept returns the next connection within the caps.
func (l *capped) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := peerKey(c.RemoteAddr())
		if l.admit(peer) {
			return &counted{Conn: c, l: l, peer: peer}, nil
		}
		_ = c.Close()
	}
}

func (l *capped) admit(peer netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= MaxConns || l.perPeer[peer] >= MaxConnsPerPeer {
		return false
	}
	l.open++
	l.perPeer[peer]++
	return true
}

func (l *capped) release(peer netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perPeer[peer]--; l.perPeer[peer] <= 0 {
		delete(l.perPeer, peer)
	}
}

// counted is an admitted connection; closing it gives its place back.
type counted struct {
	net.Conn
	l    *capped
	peer netip.Addr
	once sync.Once
}

func (c *counted) Close() error {
	c.once.Do(func() { c.l.release(c.peer) })
	return c.Conn.Close()
}

// peerKey is what MaxConnsPerPeer counts a peer under (limiter.PeerKey:
// an IPv4 address itself, an IPv6 one by its /64); the zero Addr for an
// address that is not host:port.
func peerKey(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return limiter.PeerKey(ap.Addr())
}
