//go:build linux && !race

package dataplane

import (
	"io"
	"testing"
	"time"
)

// TestSockConnNoAllocs: deadlines, a write and a read through sockConn
// allocate nothing (the system call functions are bound once per
// connection).
func TestSockConnNoAllocs(t *testing.T) {
	a, b := tcpPair(t)
	peer := rawSock(b)
	msg := []byte("GET /v1/users/42 HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, len(msg))
	allocs := testing.AllocsPerRun(200, func() {
		now := time.Now()
		a.SetReadDeadline(now.Add(time.Minute)) // as fasthttp does per request
		a.SetWriteDeadline(now.Add(time.Minute))
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a write and a read allocated %v times, want 0", allocs)
	}
}
