package inject

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

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
	// MaxHandshakes bounds the connections in their TLS handshake
	// (TLSListener), apart from MaxConns. Each buffers the ClientHello
	// it is sent (up to 64 KiB): 256 connections from as many addresses,
	// each sending 32 KiB of one, grew the injector's resident memory by
	// 18 MiB (13 with 64 under way). Fewer is no safer: with 64, 128
	// clients reconnecting at once, each closing the oldest handshake,
	// kept one another's from finishing under the race detector
	// (TestInjectorServesAPIServerPastTricklingBodies never got its 128
	// requests started).
	MaxHandshakes = MaxConns
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
		// busiest peer's own reconnection takes no busy place.
		if mine+1 >= most {
			if evicted = l.stalestLocked(); evicted == nil {
				return false, nil
			}
		}
		l.releaseLocked(evicted)
	}
	l.open++
	l.seq++
	c.seq = l.seq
	l.perPeer[c.peer] = append(l.perPeer[c.peer], c)
	return true, evicted
}

// stalestLocked returns the connection longest in its state
// (TLSListener.ConnState: waiting for its first or next request, or
// with one in progress); nil when none has a state yet.
func (l *capped) stalestLocked() (stalest *counted) {
	for _, cs := range l.perPeer {
		for _, c := range cs {
			if !c.since.IsZero() && (stalest == nil || c.since.Before(stalest.since)) {
				stalest = c
			}
		}
	}
	return stalest
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
	// since is when it entered its state (http.ConnState New, Active
	// or Idle); zero before its first and once closed. Guarded by l.mu.
	since time.Time
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

// HandshakeTimeout bounds a connection's TLS handshake (TLSListener):
// the API server finishes its own in milliseconds, and gives up on the
// whole call after its webhook timeout (10 s by default, 30 s at most).
const HandshakeTimeout = 3 * time.Second

// NextProtos returns the protocols the webhook offers (ALPN), as
// http.Server.ServeTLS offers them.
func NextProtos() []string { return []string{"h2", "http/1.1"} }

// TLSListener serves the webhook's TLS: it runs each connection's
// handshake itself, within HandshakeTimeout, and hands on only
// connections whose handshake succeeded, capped as Listener caps them.
// A connection in its handshake takes no place among those: net/http's
// own handshake ran after the place was taken, so MaxConns pods opening a
// connection each and finishing nothing (a byte at a time, or not at
// all) held every place for the handshake and header timeouts (10 s
// each), and the API server's next connection was closed unread, with
// --client-ca too, where no pod can finish the handshake
// (TestInjectorServesVerifiedPeerPastUnfinishedHandshakes). Handshakes
// are capped apart, MaxHandshakes at once and MaxConnsPerPeer from one
// peer, and with MaxHandshakes under way a new one takes the place of
// the oldest, which is closed: the API server's takes milliseconds, so
// flooding it out takes MaxHandshakes new connections within them. A
// handshake that fails gives its place back at once.
//
// With all MaxConns places taken by finished handshakes and no busier
// peer to take one from (Listener), a newcomer takes the place of the
// connection longest in its state, waiting for its first or next
// request or with one in progress: the API server's new connection
// sends its request at once, and a review takes milliseconds (its
// kept-alive connection, taken while idle, it opens again; an HTTP/2
// one never idle can be taken with its reviews). Taking idle ones first
// took the API server's new connection before its request was read
// while the pods' requests were in progress. MaxConns pods each
// sending nothing after the handshake, or a request a byte at a time,
// kept the API server out
// (TestInjectorServesAPIServerPastSilentConnections), and so did MaxConns
// pods each keeping a request in progress, its body withheld for the 2 s
// the webhook waits, then again
// (TestInjectorServesAPIServerPastTricklingBodies). ConnState must be
// the server's ConnState, and the server's TLSConfig nil: the
// listener's config offers NextProtos, as http.Server.ServeTLS adds.
type TLSListener struct {
	raw    net.Listener
	served *capped
	config *tls.Config
	logf   func(format string, args ...any)
	ready  chan *tls.Conn
	done   chan struct{} // closed by Close
	once   sync.Once

	mu      sync.Mutex // guards the following fields
	pending []*counted // in their handshake, oldest first
	err     error      // the accept error that ended the listener
}

// NewTLSListener serves config's TLS on ln; logf, when set, is told of
// handshake and accept errors.
func NewTLSListener(ln net.Listener, config *tls.Config, logf func(format string, args ...any)) *TLSListener {
	config = config.Clone()
	if len(config.NextProtos) == 0 {
		config.NextProtos = NextProtos()
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	l := &TLSListener{raw: ln, served: &capped{Listener: ln, perPeer: map[netip.Addr][]*counted{}}, config: config, logf: logf,
		ready: make(chan *tls.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection whose handshake succeeded.
func (l *TLSListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the connections in their handshake.
func (l *TLSListener) Close() error {
	err := l.raw.Close()
	l.end(nil)
	return err
}

// Addr is the listener's address.
func (l *TLSListener) Addr() net.Addr { return l.raw.Addr() }

func (l *TLSListener) end(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		pending := l.pending
		l.pending = nil
		l.mu.Unlock()
		close(l.done)
		for _, c := range pending {
			_ = c.Conn.Close()
		}
	})
}

// ConnState tracks which connections wait for a request; it must be the
// server's ConnState.
func (l *TLSListener) ConnState(c net.Conn, s http.ConnState) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return
	}
	cc, ok := tc.NetConn().(*counted)
	if !ok {
		return
	}
	l.served.mu.Lock()
	defer l.served.mu.Unlock()
	switch s {
	case http.StateNew, http.StateIdle, http.StateActive:
		cc.since = time.Now()
	default:
		cc.since = time.Time{}
	}
}

func (l *TLSListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.raw.Accept()
		if err != nil {
			// As http.Server.Serve does: a temporary error (out of
			// file descriptors) is retried after a pause.
			//lint:ignore SA1019 net/http's Serve still retries on Temporary: EMFILE is one
			if ne, ok := err.(net.Error); ok && ne.Temporary() && !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.logf("http: Accept error: %v; retrying in %v", err, delay)
				select {
				case <-time.After(delay):
					continue
				case <-l.done:
					return
				}
			}
			l.end(err)
			return
		}
		delay = 0
		cc := &counted{Conn: c, l: l.served, peer: peerKey(c.RemoteAddr())}
		ok, evicted := l.startHandshake(cc)
		if evicted != nil {
			_ = evicted.Conn.Close() // its handshake fails at once
		}
		if !ok {
			_ = c.Close()
			continue
		}
		go l.handshake(cc)
	}
}

// startHandshake counts c among the handshakes under way, within
// MaxConnsPerPeer of its peer, returning the oldest to be closed when
// MaxHandshakes are.
func (l *TLSListener) startHandshake(c *counted) (ok bool, evicted *counted) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return false, nil
	default:
	}
	mine := 0
	for _, p := range l.pending {
		if p.peer == c.peer {
			mine++
		}
	}
	if mine >= MaxConnsPerPeer {
		return false, nil
	}
	if len(l.pending) >= MaxHandshakes {
		evicted = l.pending[0]
		l.pending = slices.Delete(l.pending, 0, 1)
	}
	l.pending = append(l.pending, c)
	return true, evicted
}

// handshake runs c's handshake, then hands it on within the caps.
func (l *TLSListener) handshake(c *counted) {
	tc := tls.Server(c, l.config)
	_ = c.SetDeadline(time.Now().Add(HandshakeTimeout))
	err := tc.Handshake()
	l.mu.Lock()
	if i := slices.Index(l.pending, c); i >= 0 {
		l.pending = slices.Delete(l.pending, i, i+1)
	}
	l.mu.Unlock()
	if err != nil {
		l.logf("http: TLS handshake error from %s: %v", c.RemoteAddr(), err)
		_ = c.Conn.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	ok, evicted := l.served.admit(c)
	if evicted != nil {
		_ = evicted.Conn.Close()
	}
	if !ok {
		_ = c.Conn.Close()
		return
	}
	select {
	case l.ready <- tc:
	case <-l.done:
		_ = tc.Close()
	}
}
