//go:build linux

package dataplane

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestDeadlineLaterIsLazy checks the lazy deadline of sockConn: a later
// deadline leaves the earlier one on the socket, yet a Read waiting past
// the earlier one is not failed by it and gets data that arrives before
// the later one.
func TestDeadlineLaterIsLazy(t *testing.T) {
	a, b := tcpPair(t)
	first := time.Now().Add(30 * time.Millisecond)
	a.SetReadDeadline(first)
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	if !a.rdl.set.Equal(first) {
		t.Fatalf("a later deadline was set on the socket: %v, want %v kept", a.rdl.set, first)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		b.Write([]byte("late"))
	}()
	buf := make([]byte, 8)
	n, err := a.Read(buf)
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("Read = %q, %v; want \"late\", nil (the first deadline must not end it)", buf[:n], err)
	}
	if a.rdl.set.Equal(first) {
		t.Error("the deadline asked for was not set when the earlier one fired")
	}
}

// TestDeadlineNeverEarly checks that a Read times out when the last
// deadline asked for passes, not at an earlier one still on the socket.
func TestDeadlineNeverEarly(t *testing.T) {
	a, _ := tcpPair(t)
	start := time.Now()
	a.SetReadDeadline(start.Add(20 * time.Millisecond))
	last := start.Add(150 * time.Millisecond)
	a.SetReadDeadline(last)
	_, err := a.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want a timeout", err)
	}
	checkOpError(t, err, "read")
	if now := time.Now(); now.Before(last) {
		t.Fatalf("timed out %v before the deadline", last.Sub(now))
	}
}

// TestDeadlineEarlierAtOnce checks that an earlier deadline, and clearing
// one, take effect at once.
func TestDeadlineEarlierAtOnce(t *testing.T) {
	t.Run("earlier", func(t *testing.T) {
		a, _ := tcpPair(t)
		a.SetReadDeadline(time.Now().Add(time.Hour))
		a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		done := make(chan error, 1)
		go func() {
			_, err := a.Read(make([]byte, 1))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v, want a timeout", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("an earlier deadline did not end the Read")
		}
	})
	t.Run("cleared", func(t *testing.T) {
		a, b := tcpPair(t)
		a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		a.SetReadDeadline(time.Time{})
		go func() {
			time.Sleep(80 * time.Millisecond)
			b.Write([]byte("x"))
		}()
		if _, err := a.Read(make([]byte, 1)); err != nil {
			t.Fatalf("Read with the deadline cleared: %v", err)
		}
	})
}

// TestDeadlineWriteGoesOn checks a Write that waits for the peer past an
// earlier write deadline: it goes on where it was and delivers all.
func TestDeadlineWriteGoesOn(t *testing.T) {
	a, b := tcpPair(t)
	a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	a.SetWriteDeadline(time.Now().Add(time.Minute))
	data := make([]byte, 32<<20) // more than the socket buffers hold
	for i := range data {
		data[i] = byte(i * 3)
	}
	got := make(chan int64, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		n, _ := io.Copy(io.Discard, b)
		got <- n
	}()
	if n, err := a.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	a.Close()
	if n := <-got; n != int64(len(data)) {
		t.Fatalf("the peer read %d bytes, want %d", n, len(data))
	}
}

// TestPendingAfterEarlyDeadline checks the pool's check on a connection
// whose earlier read deadline fired while a later one was asked for: it
// is idle and reusable, not broken; and a byte that then arrives is found.
func TestPendingAfterEarlyDeadline(t *testing.T) {
	a, b := tcpPair(t)
	u := &upConn{Conn: a, peek: newPeeker(a.Conn), lazy: true} // as wrapUpstream
	first := time.Now().Add(10 * time.Millisecond)
	a.SetReadDeadline(first)
	a.SetReadDeadline(time.Now().Add(time.Hour))
	for time.Now().Before(first.Add(20 * time.Millisecond)) {
		time.Sleep(5 * time.Millisecond)
	}
	if u.pending() {
		t.Fatal("an idle connection whose earlier deadline passed looks not reusable")
	}
	b.Write([]byte("x"))
	for end := time.Now().Add(5 * time.Second); !u.pending(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("a stray byte on the connection was not found")
		}
	}
}
