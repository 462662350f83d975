package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// Item 10 of issue 12: the admin listener had no timeouts, and an idle
// connection stayed open indefinitely. Now a client that stalls in its
// headers, or idles after a request, is disconnected.
func TestAdminTimeouts(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, readTimeout: 300 * time.Millisecond, idleTimeout: 300 * time.Millisecond}
	ln := listenAdmin(t, admin)

	for _, c := range []struct{ name, send string }{
		{"stalled headers", "GET /healthz HTTP/1.1\r\nHost: admin\r\n"},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dialFrom(t, "127.0.0.1", ln.Addr().String())
			fmt.Fprint(conn, c.send)
			// Read until the server closes (an idle connection gets its
			// response first); the deadline is far above the timeout.
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			buf := make([]byte, 4096)
			for {
				if _, err := conn.Read(buf); err != nil {
					if isTimeout(err) {
						t.Fatal("connection still open 20s after the admin timeout")
					}
					return
				}
			}
		})
	}
}

// The admin listener recovers too: a check or metrics source that panics
// answers 500.
func TestAdminPanicAnswers500(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, Checks: []Check{{Name: "boom", State: func() (bool, string) { panic("check exploded") }}}}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/readyz")
	admin.Handler(&ctx)
	if got := ctx.Response.StatusCode(); got != 500 {
		t.Errorf("/readyz with a panicking check = %d, want 500", got)
	}
	if !strings.Contains(scrape(t, st.srv), "portcullis_panics_total 1\n") {
		t.Error("the admin panic is not counted")
	}
}

// /readyz says why it is not ready, one line per check.
func TestReadyzDetail(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, Checks: []Check{{Name: "extra", State: func() (bool, string) { return true, "fine" }}}}
	readyz := func() (int, string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/readyz")
		admin.Handler(&ctx)
		return ctx.Response.StatusCode(), string(ctx.Response.Body())
	}
	code, body := readyz()
	if code != 200 || !strings.HasPrefix(body, "ready\npolicy: ok, revision 1") || !strings.Contains(body, "\nextra: ok, fine\n") {
		t.Errorf("/readyz = %d %q", code, body)
	}
	st.srv.Drain()
	code, body = readyz()
	if code != 503 || !strings.HasPrefix(body, "not ready\n") || !strings.Contains(body, "serving: FAIL, draining") {
		t.Errorf("/readyz while draining = %d %q", code, body)
	}
	// Draining does not refuse requests: endpoints are still catching up.
	// A kept-alive client is told to reconnect, so it leaves this pod.
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("keep-alive request while draining: %d, close %v; want 200 and Connection: close", resp.StatusCode, resp.Close)
	}
}

// One address could hold every connection of the admin listener: the
// cap per address was its whole cap, 64, so a peer that opened 64
// connections and kept them alive (a request each, then idle for the 30s
// idle timeout, again and again) had every kubelet probe of /healthz and
// /readyz refused at accept, and the pod restarted and left its Service
// for as long as it kept at it (review48). An address holds at most
// adminMaxConnsPerIP of them now; the others are left for other peers.
func TestAdminOnePeerCannotTakeEveryConnection(t *testing.T) {
	var logs lockedBuffer
	st := startStack(t, func(c *Config) { c.Logger = zerolog.New(&logs) })
	admin := &Admin{Server: st.srv}
	ln := listenAdmin(t, admin)

	healthz := func(c net.Conn) (string, error) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"); err != nil {
			return "", err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		return resp.Status, nil
	}
	held := 0
	for range adminMaxConns {
		if _, err := healthz(dialFrom(t, "127.0.0.2", ln.Addr().String())); err == nil {
			held++ // kept alive after its answer
		}
	}
	status, err := healthz(dialFrom(t, "127.0.0.3", ln.Addr().String()))
	if err != nil || status != "200 OK" {
		t.Fatalf("/healthz from another address while one holds %d admin connections: %q, %v; want 200 OK", held, status, err)
	}
	if held > adminMaxConnsPerIP {
		t.Errorf("one address holds %d admin connections, want at most %d", held, adminMaxConnsPerIP)
	}
	// The refusal names the admin listener's own caps: the data
	// listener's flags (--max-conns) do not bound it.
	if l := logs.String(); !strings.Contains(l, "over the admin listener's caps (64 connections, 8 per address)") || strings.Contains(l, "refused: over --max-conns") {
		t.Errorf("log of the refused admin connections: %q; want the admin listener's caps named, no data listener flag", l)
	}
}

// The admin listener took fasthttp's default body limit, 4 MiB, and
// fasthttp allocates a declared body whole before the handler runs (none
// of which reads a body): 60 connections that each sent the head of a
// 4 MiB POST and one byte took the sidecar's RSS from 78 MiB to 218 MiB,
// past the injector's default memory limit of 128 MiB, and it stayed
// (review48). A body over adminMaxBody is refused from its head, unread:
// fasthttp's 400 (it waited for the body before, and answered 408 at the
// read timeout).
func TestAdminRefusesLargeBodies(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv}
	ln := listenAdmin(t, admin)

	for _, path := range []string{"/healthz", "/metrics", "/debug/pprof/symbol"} {
		c := dialFrom(t, "127.0.0.1", ln.Addr().String())
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: admin\r\nContent-Length: %d\r\n\r\na", path, 4<<20-100)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("POST %s with a 4 MiB body: %v; want 400", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s with a 4 MiB body: %s, want 400 from its head, the body unread", path, resp.Status)
		}
	}
	// A small body is read as before, and the request answered (a POST
	// to /healthz is refused 405, TestAdminProbesRefuseOtherMethods, not
	// 400 for its body).
	c := dialFrom(t, "127.0.0.1", ln.Addr().String())
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "POST /healthz HTTP/1.1\r\nHost: admin\r\nContent-Length: 2\r\n\r\nok")
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz with a 2-byte body: %v, %v; want 405", resp, err)
	}
}
