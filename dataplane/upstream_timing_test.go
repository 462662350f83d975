package dataplane

import (
	"net"
	"testing"
)

// BenchmarkUpstreamPeek is the check a pooled upstream connection gets
// before reuse: one non-blocking recv(MSG_PEEK) on an idle TCP socket.
func BenchmarkUpstreamPeek(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			var buf [1]byte
			c.Read(buf[:]) // until the client closes
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	u := &upConn{Conn: c, peek: newPeeker(c)}
	b.ReportAllocs()
	for b.Loop() {
		if u.pending() {
			b.Fatal("an idle connection reported bytes waiting")
		}
	}
}
