package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"

	"github.com/rs/zerolog"
)

// --metrics-listen serves /healthz, /readyz and /metrics without a
// credential on at most metricsMaxConns connections. A request there that
// declared a body and sent none was read for ever: the server reads such
// a body before it answers, and the listener had a header timeout but no
// read timeout, so metricsMaxConns such connections from anyone who
// reached the port took every place, and the probes and the scrape were
// answered no more (live: 64 of them, and curl /healthz timed out).
func TestMetricsListenerNotHeldByDeclaredBody(t *testing.T) {
	t.Parallel()
	addr := metricsListener(t)
	for range metricsMaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz after %d connections declared a body and sent none: %v", metricsMaxConns, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
}

// --metrics-listen kept a connection idle between requests open a minute,
// and at metricsMaxConns the next waited in the backlog: one host keeping
// metricsMaxConns connections alive, each sending a request a minute,
// held every place, and kubelet's /healthz and /readyz probes failed (the
// kustomize base's liveness probe: restart loops). Now a newcomer closes
// the longest-idle connection.
func TestMetricsListenerNotHeldByIdleConnections(t *testing.T) {
	t.Parallel()
	addr := metricsListener(t)
	for i := range metricsMaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Every place now holds a kept-alive connection, idle.
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz after %d kept-alive connections: %v", metricsMaxConns, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
}

// metricsListener serves a collector's --metrics-listen on a free
// loopback address, until the test ends.
func metricsListener(t *testing.T) string {
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
