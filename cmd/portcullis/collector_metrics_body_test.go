package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
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
	addr := serveTestMetrics(t)
	for range metricsMaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	}
	if err := getHealthz(addr, fmt.Sprintf("after %d connections declared a body and sent none", metricsMaxConns)); err != nil {
		t.Fatal(err)
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
	addr := serveTestMetrics(t)
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
	if err := getHealthz(addr, fmt.Sprintf("after %d kept-alive connections", metricsMaxConns)); err != nil {
		t.Fatal(err)
	}
}
