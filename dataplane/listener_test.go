package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp/fasthttputil"
)

// dialFrom opens a connection to addr from the loopback address from
// (127.0.0.0/8 is all loopback on Linux), so one test can be many peers.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c without answering
// (a read ends with EOF or a reset), waiting up to 10 s.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := c.Read(b[:])
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// getOn sends a request on c and returns its status.
func getOn(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Item 10 of issue 12: open connections are capped in total and per peer
// address. Past a cap a new connection is closed at once, the ones within
// keep working, and once some close a new one is served.
func TestConnectionCaps(t *testing.T) {
	st := startStack(t, func(c *Config) { c.MaxConns, c.MaxConnsPerIP = 6, 3 })
	var held []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.1", st.addr)
		if got := getOn(t, c); got != 200 {
			t.Fatalf("connection within the caps: status %d, want 200", got)
		}
		held = append(held, c)
	}
	if !closedByServer(dialFrom(t, "127.0.0.1", st.addr)) {
		t.Fatal("a 4th connection from 127.0.0.1 stayed open, want it closed (per-IP cap 3)")
	}
	for range 3 { // another address still gets its share of the total
		c := dialFrom(t, "127.0.0.2", st.addr)
		if got := getOn(t, c); got != 200 {
			t.Fatalf("connection from 127.0.0.2: status %d, want 200", got)
		}
		held = append(held, c)
	}
	if !closedByServer(dialFrom(t, "127.0.0.3", st.addr)) {
		t.Fatal("a 7th connection stayed open, want it closed (cap 6)")
	}
	if got := getOn(t, held[0]); got != 200 {
		t.Fatalf("held connection after refusals: status %d, want 200", got)
	}
	held[0].Close()
	// The server sees the close asynchronously: poll for a served request.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.1", st.addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no connection served 20s after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Serve returns when its listener is closed, also for a listener that is
// not the net package's: only the close ends the accept loop.
func TestServeReturnsOnClose(t *testing.T) {
	store := &policy.Store{}
	store.Swap(loadExample(t))
	srv, err := New(Config{Store: store, Upstream: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	ln.Close()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Serve still accepting 20s after its listener closed")
	}
}

// Item 10 of issue 12: a client that trickles its headers is cut off
// after HeaderTimeout, well before ReadTimeout, while a request whose body
// is slower than HeaderTimeout still gets ReadTimeout for it.
func TestHeaderReadTimeout(t *testing.T) {
	// HeaderTimeout leaves a loaded machine (-race, other builds) ample
	// time to read headers that arrive in one write.
	st := startStack(t, func(c *Config) { c.HeaderTimeout, c.ReadTimeout = 2*time.Second, time.Minute })
	t.Run("stalled headers", func(t *testing.T) {
		t.Parallel()
		c := dialFrom(t, "127.0.0.1", st.addr)
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n")
		start := time.Now()
		// Far below ReadTimeout, far above HeaderTimeout.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, c)
		if waited := time.Since(start); waited > 25*time.Second {
			t.Fatalf("connection with stalled headers open for %v, want it closed after HeaderTimeout", waited)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		c := dialFrom(t, "127.0.0.1", st.addr)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\nContent-Length: 4\r\n\r\nab", hrisKey)
		// The client is slow on purpose: the rest of the body comes
		// after HeaderTimeout has passed.
		time.Sleep(3 * time.Second)
		io.WriteString(c, "cd")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("slow body: status %d, want 200", resp.StatusCode)
		}
	})
}
