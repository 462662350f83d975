package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestChunkFramingBudget: fasthttp reads a chunk extension without limit
// and counts none of it towards a body limit, so a client without a
// credential sent "1;" and then extension bytes as fast as loopback
// carries them, and the sidecar read them all for its whole ReadTimeout
// (64 MiB here, where 16 KiB is all a body may be before authentication).
// Now the chunked body's bytes on the wire are bounded (budgetChunks):
// the sidecar answers 400 and closes after a little more than the limit.
// A chunked body of ordinary chunks to an authenticated route is served,
// and the connection serves the next request (the budget ends with the
// body).
func TestChunkFramingBudget(t *testing.T) {
	st := startStack(t, func(cfg *Config) { cfg.ReadTimeout = 5 * time.Second })

	extensionFlood(t, st.addr)

	// Ordinary chunks, twice on one connection.
	k, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	k.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(k)
	for i := range 2 {
		var b strings.Builder
		fmt.Fprintf(&b, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", hrisKey)
		b.WriteString("1\r\n\"\r\n")
		for range 400 {
			b.WriteString("64\r\n" + strings.Repeat("x", 100) + "\r\n")
		}
		b.WriteString("1\r\n\"\r\n0\r\n\r\n")
		if _, err := k.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d of 40 KiB in ordinary chunks: %v", i+1, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("request %d of 40 KiB in ordinary chunks: %d, want 200", i+1, resp.StatusCode)
		}
	}
}

// extensionFlood sends to addr the head of a chunked request and then
// 64 MiB of one chunk's extension, and checks that the sidecar answers
// 400 before it has read 16 MiB of them (TestChunkFramingBudget).
func extensionFlood(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetWriteBuffer(64 << 10)
	written := make(chan int64, 1)
	go func() {
		n, _ := c.Write([]byte("POST /v1/records HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n1;"))
		total := int64(n)
		ext := bytes.Repeat([]byte("a"), 1<<20)
		for range 64 {
			n, err := c.Write(ext)
			total += int64(n)
			if err != nil {
				break
			}
		}
		written <- total
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to an endless chunk extension: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("endless chunk extension: %d, want 400", resp.StatusCode)
	}
	if n := <-written; n >= 16<<20 {
		t.Errorf("the sidecar read %d bytes of one chunk's extension (64 MiB sent); want it to stop after its budget", n)
	}
}
