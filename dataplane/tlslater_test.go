package dataplane

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// plainThenTLSListener hands its first connection plain and every later
// one as TLS, as a caller's listener that turns TLS on for later
// connections (a PROXY protocol or SNI router) does.
type plainThenTLSListener struct {
	net.Listener
	cfg *tls.Config
	n   atomic.Int32
}

func (l *plainThenTLSListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.n.Add(1) == 1 {
		return c, err
	}
	return tls.Server(c, l.cfg), nil
}

// TestTLSRefusalStopsServingTheListener: a listener handing a plain
// connection first and a TLS one later is refused when the TLS one comes
// (ErrTLSListener), and Serve returns; the plain connection it had
// handed over before went on being served, its requests forwarded to the
// service by a Serve that had returned, for as long as its client kept
// it busy.
func TestTLSRefusalStopsServingTheListener(t *testing.T) {
	st := startStack(t, nil)
	cfg := &tls.Config{Certificates: []tls.Certificate{newAuthority(t, "server CA").issue(t, "sidecar", nil, true).tls}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() { served <- st.srv.Serve(&plainThenTLSListener{Listener: ln, cfg: cfg}) }()
	plain, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(plain)
	get := "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n"
	io.WriteString(plain, get)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the plain connection's first request: %v %v, want 200", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Close()
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrTLSListener) {
			t.Fatalf("Serve returned %v, want ErrTLSListener", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still serving after a TLS connection")
	}
	before := len(st.up.received())
	io.WriteString(plain, get)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		io.Copy(io.Discard, resp.Body)
		t.Errorf("after Serve returned ErrTLSListener, the plain connection it had accepted was answered %d; the service got %d more requests, want the connection closed, none",
			resp.StatusCode, len(st.up.received())-before)
	}
}
