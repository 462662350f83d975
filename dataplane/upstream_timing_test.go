package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
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

// byteReader hands out its bytes one per Read, as a service trickling its
// response head a byte per segment does.
type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i == len(r.b) {
		return 0, io.EOF
	}
	p[0] = r.b[r.i]
	r.i++
	return 1, nil
}

// BenchmarkListsCloseTrickled is listsClose reading a response head just
// under the 16 KiB bound that arrives a byte at a time: as many lines of
// 30 bytes as fit, or one header line as long as fits. Each piece used to
// be scanned again from the head's start (quadratic in the pieces); the
// scan resumes where it stopped.
func BenchmarkListsCloseTrickled(b *testing.B) {
	const max = 16 << 10
	var lines strings.Builder
	lines.WriteString("HTTP/1.1 200 OK\r\n")
	for i := 0; lines.Len() < max-64; i++ {
		fmt.Fprintf(&lines, "X-Pad-%05d: %016d\r\n", i, i)
	}
	lines.WriteString("Connection: close\r\n\r\n")
	long := "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("v", max-64) + "\r\nConnection: close\r\n\r\n"
	for _, c := range []struct{ name, head string }{{"lines", lines.String()}, {"one long line", long}} {
		b.Run(c.name, func(b *testing.B) {
			r := &byteReader{b: []byte(c.head)}
			br := bufio.NewReaderSize(r, max)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.head)))
			for b.Loop() {
				r.i = 0
				br.Reset(r)
				if closes, _, bare := listsClose(br); !closes || bare {
					b.Fatalf("listsClose = %v, bare %v; want a head listing close", closes, bare)
				}
			}
		})
	}
}
