package dataplane

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestConnectionMetrics: a connection closed at accept for
// --max-conns-per-ip (or --max-conns) was only a log line, at most one a
// second, and the open count only in that line: /metrics, which the
// alerts read, showed nothing of a sidecar turning clients away. Now
// portcullis_connections_open and portcullis_connections_refused_total
// show both (and portcullis_accept_errors_total the accept errors waited
// out, TestAcceptEMFILE).
func TestConnectionMetrics(t *testing.T) {
	t.Parallel()
	st := startStack(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitMetric(t, st.srv, "portcullis_connections_open 2")
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("third connection from one address read %d bytes, %v; want it closed at accept", n, err)
	}
	waitMetric(t, st.srv, "portcullis_connections_refused_total 1")
	if page := scrape(t, st.srv); !strings.Contains(page, "\nportcullis_accept_errors_total 0\n") {
		t.Fatalf("no accept errors expected; page:\n%s", page)
	}
}

// waitMetric waits until srv's /metrics page holds the sample line want,
// and fails at once when the page has no such family at all.
func waitMetric(t *testing.T, srv *Server, want string) {
	t.Helper()
	name, _, _ := strings.Cut(want, " ")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		page := scrape(t, srv)
		if strings.Contains(page, "\n"+want+"\n") {
			return
		}
		if !strings.Contains(page, "# TYPE "+name+" ") {
			t.Fatalf("no %s on /metrics", name)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on /metrics after 30s; page:\n%s", want, page)
		}
	}
}
