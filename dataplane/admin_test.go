package dataplane

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// Item 10 of issue 12: the admin listener had no timeouts, and an idle
// connection stayed open indefinitely. Now a client that stalls in its
// headers, or idles after a request, is disconnected.
func TestAdminTimeouts(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, readTimeout: 300 * time.Millisecond, idleTimeout: 300 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer()
	go srv.Serve(admin.Listener(ln))
	t.Cleanup(func() { srv.Shutdown() })

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
