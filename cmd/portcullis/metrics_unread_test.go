package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"

	"github.com/rs/zerolog"
)

// serveTestMetrics serves a new collector's --metrics-listen and returns
// its address.
func serveTestMetrics(t *testing.T) string {
	t.Helper()
	store, err := collector.OpenStore(t.TempDir(), collector.StoreConfig{SigningKey: signingKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	col, err := collector.New(store, collector.Config{Token: "sender-token-0123456789abcdef0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddrTB(t)
	log := zerolog.New(zerolog.NewTestWriter(t))
	stop, err := serveCollectorMetrics(addr, col, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// getHealthz asks addr for /healthz, waiting a minute at most.
func getHealthz(addr, after string) error {
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		return fmt.Errorf("/healthz %s: %w", after, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz %s: %s", after, resp.Status)
	}
	return nil
}

// A newcomer to --metrics-listen that found every place mid-request
// waited for a connection to close, not for one to go idle: kept-alive
// connections sending a request a second never closed (their idle
// timeout never came), and the newcomer, a probe, waited for good.
func TestMetricsListenerNewcomerTakesConnectionGoneIdle(t *testing.T) {
	t.Parallel()
	addr := serveTestMetrics(t)
	done := make(chan struct{})
	defer close(done)
	conns := make([]net.Conn, metricsMaxConns)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Mid-request: the head begun, not ended.
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		conns[i] = c
	}
	got := make(chan error, 1)
	go func() {
		got <- getHealthz(addr, fmt.Sprintf("while %d kept-alive connections ask a request a second", metricsMaxConns))
	}()
	time.Sleep(200 * time.Millisecond) // the newcomer waits for a place (not a bound asserted)
	for _, c := range conns {
		go func() {
			r := bufio.NewReader(c)
			for first := true; ; first = false {
				if !first {
					fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
				}
				io.WriteString(c, "\r\n")
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				select {
				case <-done:
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	if err := <-got; err != nil {
		t.Error(err)
	}
}

// A connection of --metrics-listen whose client sent requests and read
// no answer held its place for ever: the server had no write timeout, so
// its write blocked once the socket's buffers were full, the connection
// stayed mid-request, which evictIdleListener does not evict, and
// metricsMaxConns of them, from anyone who reached the port, kept the
// probes waiting for good. The answer's write is now bounded
// (metricsWriteTimeout).
func TestMetricsListenerNotHeldByUnreadAnswers(t *testing.T) {
	t.Parallel()
	addr := serveTestMetrics(t)
	// A small receive window, so that the server's writes block soon.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	stuck := make(chan struct{}, metricsMaxConns)
	for range metricsMaxConns {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// One request at a time, each read from the socket as it comes
		// (one read from the server's buffer, pipelined, leaves the
		// connection idle to http.Server), and no answer read, until the
		// server reads no more: its write of an answer is blocked.
		go func() {
			defer func() { stuck <- struct{}{} }()
			for range 100_000 {
				c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for range metricsMaxConns {
		<-stuck
	}
	if err := getHealthz(addr, fmt.Sprintf("with %d connections not reading their answers", metricsMaxConns)); err != nil {
		t.Error(err)
	}
}
