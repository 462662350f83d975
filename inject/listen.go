package inject

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
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
// /64, which one host holds whole). With all MaxConns open, a connection
// from a peer holding fewer than the busiest peer less one takes the
// place of the newest connection of the busiest peers, which is closed
// (the API server's are long-lived: a flood's newest go first); any other past either
// cap is closed as it arrives, unread. A refusal alone let a few pods
// hold every place, answering a request now and then, so that the API
// server's next connection (a new replica, one its idle timeout closed)
// was refused: pod creation stopped in every labelled namespace. Filling
// the places now needs MaxConns peers. The connections already open, the
// API server's kept-alive ones among them, are served on unless their
// peer is the busiest.
func Listener(ln net.Listener) net.Listener {
	return &capped{Listener: ln, perPeer: map[netip.Addr][]*counted{}}
}

type capped struct {
	net.Listener
	mu      sync.Mutex // guards the following fields
	open    int
	perPeer map[netip.Addr][]*counted // each peer's open connections, oldest first
	seq     uint64                    // of the last connection admitted
}

// Accept returns the next connection within the caps.
func (l *capped) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cc := &counted{Conn: c, l: l, peer: peerKey(c.RemoteAddr())}
		ok, evicted := l.admit(cc)
		if evicted != nil {
			_ = evicted.Conn.Close()
		}
		if ok {
			return cc, nil
		}
		_ = c.Close()
	}
}

// admit counts c in when there is room, or when its peer may take the
// place of the busiest peer's oldest connection, which it returns to be
// closed.
func (l *capped) admit(c *counted) (ok bool, evicted *counted) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine := len(l.perPeer[c.peer])
	if mine >= MaxConnsPerPeer {
		return false, nil
	}
	if l.open >= MaxConns {
		most := 0
		for _, cs := range l.perPeer {
			newest := cs[len(cs)-1]
			if len(cs) > most || len(cs) == most && newest.seq > evicted.seq {
				evicted, most = newest, len(cs)
			}
		}
		// Taking the place must not make c's peer the busiest: the
		// busiest peer's own reconnection cannot evict anyone.
		if mine+1 >= most {
			return false, nil
		}
		l.releaseLocked(evicted)
	}
	l.open++
	l.seq++
	c.seq = l.seq
	l.perPeer[c.peer] = append(l.perPeer[c.peer], c)
	return true, evicted
}

func (l *capped) release(c *counted) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(c)
}

// releaseLocked gives c's place back, once: a connection evicted is
// closed by its server too.
func (l *capped) releaseLocked(c *counted) {
	i := slices.Index(l.perPeer[c.peer], c)
	if i < 0 {
		return
	}
	l.open--
	cs := slices.Delete(l.perPeer[c.peer], i, i+1)
	if len(cs) == 0 {
		delete(l.perPeer, c.peer)
		return
	}
	l.perPeer[c.peer] = cs
}

// counted is an admitted connection; closing it gives its place back.
type counted struct {
	net.Conn
	l    *capped
	peer netip.Addr
	seq  uint64 // its admission's order
}

func (c *counted) Close() error {
	c.l.release(c)
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
