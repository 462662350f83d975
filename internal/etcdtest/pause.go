package etcdtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// PauseProxy forwards loopback connections to target until paused:
// Pause closes every connection it carries and refuses new ones until
// Resume, so a client of it finds etcd unreachable while the test does
// to etcd what the client must not see happen (a restore and the writes
// after it).
type PauseProxy struct {
	Addr   string
	mu     sync.Mutex
	paused bool
	conns  []net.Conn
}

// NewPauseProxy starts a PauseProxy to target; it ends with the test.
func NewPauseProxy(t testing.TB, target string) *PauseProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &PauseProxy{Addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.Pause(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			paused := p.paused
			p.mu.Unlock()
			u, err := net.Dial("tcp", target)
			if paused || err != nil {
				c.Close()
				if u != nil {
					u.Close()
				}
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(u, c); u.Close() })
			wg.Go(func() { io.Copy(c, u); c.Close() })
		}
	})
	return p
}

// Pause closes the connections carried and refuses new ones.
func (p *PauseProxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Resume carries new connections again.
func (p *PauseProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
}
