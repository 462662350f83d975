package etcdtest

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// LostAnswerProxy listens on loopback and forwards each connection to
// target (etcd's host:port) until the client sends its first gRPC request
// (an HTTP/2 HEADERS frame, RFC 9113 section 6.2): from then on it still
// forwards the client's bytes but drops etcd's. The request reaches etcd
// and is applied; its answer never reaches the client, as when a
// connection is lost after a write was sent. It returns the proxy's
// address, and closes when t ends.
func LostAnswerProxy(t testing.TB, target string) string {
	t.Helper()
	return LostAnswerProxyAfter(t, target, 0)
}

// LostAnswerProxyAfter is LostAnswerProxy that lets the answers to the
// first n requests of each connection through and drops etcd's bytes
// from the request after them on: the write of a function that reads
// (or grants a lease) n times before it writes loses its answer. The
// client must wait for each answer before it sends the next request, as
// a sequence of calls does.
func LostAnswerProxyAfter(t testing.TB, target string, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			var sent atomic.Bool
			wg.Go(func() { forwardFrames(u, c, n, &sent) })
			wg.Go(func() { dropAfter(c, u, &sent) })
		}
	})
	return ln.Addr().String()
}

// forwardFrames copies the client's HTTP/2 preface and frames from src to
// dst, setting sent before it forwards the HEADERS frame after the first
// n.
func forwardFrames(dst, src net.Conn, n int, sent *atomic.Bool) {
	defer dst.Close()
	preface := make([]byte, 24)
	if _, err := io.ReadFull(src, preface); err != nil {
		return
	}
	if _, err := dst.Write(preface); err != nil {
		return
	}
	hdr := make([]byte, 9)
	for {
		if _, err := io.ReadFull(src, hdr); err != nil {
			return
		}
		payload := make([]byte, int(binary.BigEndian.Uint32(append([]byte{0}, hdr[:3]...))))
		if _, err := io.ReadFull(src, payload); err != nil {
			return
		}
		if hdr[3] == 0x1 { // HEADERS: a request
			if n == 0 {
				sent.Store(true)
			}
			n--
		}
		if _, err := dst.Write(append(hdr, payload...)); err != nil {
			return
		}
	}
}

// dropAfter copies src to dst until sent is set, then reads src and drops
// what it reads.
func dropAfter(dst, src net.Conn, sent *atomic.Bool) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !sent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
