//go:build linux

package dataplane

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestSendWaitWaitsForTheAnswer checks sendWait on a pooled connection:
// the request reaches the peer whole, sendWait returns once the answer
// has begun, and the answer is then read as usual.
func TestSendWaitWaitsForTheAnswer(t *testing.T) {
	a, b := tcpPair(t)
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(req))
		io.ReadFull(b, buf)
		got <- buf
		b.Write([]byte("answer"))
	}()
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, stray, err := a.sendWait(req)
	if len(rest) != 0 || stray || err != nil {
		t.Fatalf("sendWait = %d bytes left, stray %v, %v; want 0, false, nil", len(rest), stray, err)
	}
	if g := <-got; !bytes.Equal(g, req) {
		t.Fatalf("the peer read %q, want %q", g, req)
	}
	buf := make([]byte, 16)
	n, err := a.Read(buf)
	if err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("Read = %q, %v; want \"answer\", nil", buf[:n], err)
	}
}

// TestSendWaitFindsStrayBytes checks the pool's check inside sendWait:
// with a byte waiting on the connection (or the connection reset) before
// the request, nothing is written and stray is reported.
func TestSendWaitFindsStrayBytes(t *testing.T) {
	t.Run("byte waiting", func(t *testing.T) {
		a, b := tcpPair(t)
		b.Write([]byte("x")) // on loopback, in a's receive queue when Write returns
		rest, stray, err := a.sendWait([]byte("GET / HTTP/1.1\r\n\r\n"))
		if !stray || err != nil || len(rest) == 0 {
			t.Fatalf("sendWait = %d bytes left, stray %v, %v; want the request left, stray, nil", len(rest), stray, err)
		}
		a.Close()
		if got, _ := io.ReadAll(b); len(got) != 0 {
			t.Fatalf("the peer got %q of a request on a connection with a stray byte", got)
		}
	})
	t.Run("reset", func(t *testing.T) {
		a, b := tcpPair(t)
		b.SetLinger(0)
		b.Close() // RST, delivered within close(2) on loopback
		if _, stray, _ := a.sendWait([]byte("GET / HTTP/1.1\r\n\r\n")); !stray {
			t.Fatal("a connection reset by the service took a request")
		}
	})
}

// TestSendWaitLeavesTheRest checks a request larger than the socket
// buffers take: sendWait returns what is left, without waiting, and
// writing it delivers the request whole and in order.
func TestSendWaitLeavesTheRest(t *testing.T) {
	a, b := tcpPair(t)
	req := make([]byte, 32<<20) // more than loopback's send and receive buffers hold
	for i := range req {
		req[i] = byte(i * 5 / 3)
	}
	rest, stray, err := a.sendWait(req)
	if stray || err != nil || len(rest) == 0 || len(rest) == len(req) {
		t.Fatalf("sendWait = %d of %d bytes left, stray %v, %v; want part left, false, nil", len(rest), len(req), stray, err)
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(req))
		io.ReadFull(b, buf)
		got <- buf
	}()
	if _, err := a.Write(rest); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(<-got, req) {
		t.Fatal("the peer read other bytes than were sent")
	}
}

// TestSendWaitTimesOut checks that the wait for the answer keeps the read
// deadline: a peer that never answers ends it with a timeout.
func TestSendWaitTimesOut(t *testing.T) {
	a, _ := tcpPair(t)
	a.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, stray, err := a.sendWait([]byte("GET / HTTP/1.1\r\n\r\n"))
	checkOpError(t, err, "read")
	if stray || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("sendWait = stray %v, %v; want a timeout", stray, err)
	}
}
