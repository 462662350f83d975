//go:build linux && !race

package dataplane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Finding (review72): a streamed response cut because the client read
// too slowly (its write timeout passed mid-body) was audited allowed,
// status 200, as a response that left whole: nothing in the trail told
// it from a download the client got to its end. Its record must say the
// client cut it (ClientCut), keep the decision (the data that left did
// leave) and count less than the whole body; a response read to its end
// is not marked, whatever its framing.
func TestSlowReaderCutAudited(t *testing.T) {
	const wt = 300 * time.Millisecond
	const size = 64 << 20 // more than loopback's socket buffers hold
	piece := strings.Repeat("p", 32<<10)
	cases := []struct {
		name, proto string
		chunked     bool
		size        int  // the body's bytes
		slow        bool // the client stops reading after the head
	}{
		{"length, slow", "HTTP/1.1", false, size, true},
		{"chunked, slow", "HTTP/1.1", true, size, true},
		{"chunked to HTTP/1.0, slow", "HTTP/1.0", true, size, true},
		{"length, read whole", "HTTP/1.1", false, 1 << 20, false},
		{"chunked, read whole", "HTTP/1.1", true, 1 << 20, false},
		{"chunked to HTTP/1.0, read whole", "HTTP/1.0", true, 1 << 20, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := startStreamUpstream(t, func(c net.Conn) error {
				head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(tc.size) + "\r\n\r\n"
				if tc.chunked {
					head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				}
				if _, err := io.WriteString(c, head); err != nil {
					return err
				}
				for left := tc.size; left > 0; left -= len(piece) {
					var err error
					if tc.chunked {
						_, err = fmt.Fprintf(c, "%x\r\n%s\r\n", len(piece), piece)
					} else {
						_, err = io.WriteString(c, piece)
					}
					if err != nil {
						return err // the sidecar closed the connection
					}
				}
				if tc.chunked {
					_, err := io.WriteString(c, "0\r\n\r\n")
					return err
				}
				return nil
			})
			st := startStack(t, func(c *Config) { c.Upstream, c.WriteTimeout = up, wt })
			c, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "GET /v1/users/42 %s\r\nHost: svc\r\nConnection: close\r\nX-API-Key: %s\r\n\r\n", tc.proto, hrisKey)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			read := int64(0)
			if !tc.slow {
				read, _ = io.Copy(io.Discard, resp.Body)
				if read != int64(tc.size) {
					t.Fatalf("the client read %d bytes, want %d", read, tc.size)
				}
			}
			rec := st.sink.waitLast(t, tc.name)
			if rec.ClientCut != tc.slow || rec.Decision != audit.Allowed || rec.Status != 200 {
				t.Errorf("audited cut %v, decision %v, status %d, bytes_out %d of %d; want cut %v, allowed, 200",
					rec.ClientCut, rec.Decision, rec.Status, rec.BytesOut, tc.size, tc.slow)
			}
			if tc.slow && rec.BytesOut >= int64(tc.size) {
				t.Errorf("a response the client stopped reading audited with bytes_out %d, the whole body %d", rec.BytesOut, tc.size)
			}
			if !tc.slow && rec.BytesOut != read {
				t.Errorf("a response read whole audited with bytes_out %d, want %d", rec.BytesOut, read)
			}
		})
	}
}

// Finding (review79): a client reading steadily, but too slowly for the
// write timeout, was now and then audited upstream_timeout, not cut by
// the client: the stream's own bound (until) starts when the handler
// hands the body over, fasthttp's write deadline a little later, so a
// write that completed between the two was followed by a read of the
// upstream that found the time up and blamed the upstream. A client
// pacing its reads could so make its download read as refused.

// TestSteadySlowReaderCutAudited has a real client read a large response
// steadily, in 16 KiB reads with a pause of 150 us (spun, yielding, not
// slept: a sleep's wake-up is too coarse to meet the window) between them, twenty
// times: every record must say allowed, "cut":"client".
func TestSteadySlowReaderCutAudited(t *testing.T) {
	const wt = 200 * time.Millisecond
	const size = 60 << 20 // more than the client can read within wt
	// The upstream must never be what is slow: on a loaded two-core
	// machine its goroutine, starved, left the sidecar's reads waiting,
	// and the sidecar rightly blamed the upstream. Writing a MiB at a
	// time into a send buffer of 8 MiB was not enough: under load the
	// sidecar still found the upstream's socket empty at a MiB's edge
	// ("bytes_out 5242880", "8388608"), the upstream's goroutine back
	// from one write and not yet run for the next (a goroutine out of a
	// long system call waits for a P, behind the client's spinning one).
	// So the whole response goes out in one blocking write(2): the
	// kernel itself refills the socket as the sidecar reads, waking the
	// writing thread, and no Go scheduling stands between the two.
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n" + strings.Repeat("p", size))
	up := startStreamUpstream(t, func(c net.Conn) error {
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return errors.New("not TCP")
		}
		tc.SetWriteBuffer(8 << 20)
		f, err := tc.File() // a second descriptor of the same socket
		if err != nil {
			return err
		}
		defer f.Close()
		fd := int(f.Fd()) // Fd puts the socket in blocking mode
		for p := resp; len(p) > 0; {
			n, err := syscall.Write(fd, p)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return err // the sidecar closed the connection
			}
			p = p[n:]
		}
		return errors.New("written whole") // one response a connection
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.WriteTimeout = up, wt })
	st.store.Swap(withoutLimits(t, st.store.Load()))
	buf := make([]byte, 16<<10)
	for i := range 20 {
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "GET /v1/users/42 HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: %s\r\n\r\n", hrisKey)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		read := 0
		for {
			n, err := resp.Body.Read(buf)
			read += n
			if err != nil {
				break
			}
			for s := time.Now(); time.Since(s) < 150*time.Microsecond; {
				runtime.Gosched() // the sidecar and the upstream run meanwhile
			}
		}
		c.Close()
		rec := st.sink.waitLast(t, "a steadily slow reader")
		st.sink.mu.Lock()
		st.sink.recs = nil
		st.sink.mu.Unlock()
		if rec.Decision != audit.Allowed || !rec.ClientCut || rec.Status != 200 {
			t.Errorf("read %d: the client read %d of %d bytes; audited %v, cut %v, status %d, bytes_out %d; want allowed, cut by the client, 200",
				i, read, size, rec.Decision, rec.ClientCut, rec.Status, rec.BytesOut)
		}
	}
}
