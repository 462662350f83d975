//go:build linux && !race

package dataplane

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// net.Conn allows Read from several goroutines at once (the net package
// serialises them on the descriptor's read lock). sockConn stored the
// caller's buffer in the connection before it took that lock (found by an
// outside review; now rmu and wmu serialise the calls), so a
// second Read waiting for the lock replaces the first one's buffer: the
// first returns a count of bytes written into the other's buffer, and
// the second, finding the buffer cleared, reads 0 bytes and reports
// io.EOF on an open connection. (Without -race: the race detector flags
// the same fields.)
func TestSockConnConcurrentReads(t *testing.T) {
	a, b := tcpPair(t)
	type result struct {
		buf []byte
		n   int
		err error
	}
	out := make(chan result, 2)
	for range 2 {
		go func() {
			buf := make([]byte, 8)
			n, err := a.Read(buf)
			out <- result{buf, n, err}
		}()
	}
	time.Sleep(100 * time.Millisecond) // both Reads waiting in the poller or on its lock
	if _, err := b.Write([]byte("AAAA")); err != nil {
		t.Fatal(err)
	}
	r1 := <-out
	if _, err := b.Write([]byte("BBBB")); err != nil {
		t.Fatal(err)
	}
	var r2 result
	select {
	case r2 = <-out:
	case <-time.After(10 * time.Second):
		t.Fatal("second Read never returned")
	}
	for i, r := range []result{r1, r2} {
		if r.err != nil {
			t.Errorf("Read %d on an open connection: %v, want data", i+1, r.err)
			continue
		}
		if got := r.buf[:r.n]; r.n == 0 || bytes.Count(got, []byte{0}) > 0 {
			t.Errorf("Read %d returned %d bytes but its buffer holds %q", i+1, r.n, got)
		}
	}
}

// The same for Write: net.Conn's writes from several goroutines are each
// written whole (the descriptor's write lock). sockConn's second Write
// replaces the first one's remaining bytes while the first waits for the
// socket to drain: both report every byte written, and the peer gets
// less than was written, the first Write's tail lost.
func TestSockConnConcurrentWrites(t *testing.T) {
	a, b := tcpPair(t)
	const size = 8 << 20 // far more than the socket buffers: the first Write waits in the poller
	var wg sync.WaitGroup
	var total atomic.Int64
	for _, c := range []byte{'A', 'B'} {
		// A fills the socket buffers and waits in the poller, holding the
		// write lock, before B starts; the peer reads only after both.
		time.Sleep(100 * time.Millisecond)
		wg.Go(func() {
			n, err := a.Write(bytes.Repeat([]byte{c}, size))
			if err != nil {
				t.Errorf("Write of %c: %v", c, err)
			}
			total.Add(int64(n))
		})
	}
	time.Sleep(100 * time.Millisecond)
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, b)
		got <- n
	}()
	wg.Wait()
	a.Conn.(*net.TCPConn).CloseWrite() // sockConn hides CloseWrite
	if n := <-got; n != total.Load() {
		t.Errorf("the peer read %d bytes, the two Writes reported %d written", n, total.Load())
	}
}
