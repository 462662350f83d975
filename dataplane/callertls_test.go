package dataplane

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// callerTLSListener is a listener of the caller's whose connections are
// TLS ones under a type of its own, as a tls.NewListener wrapped in a
// caller's (metering, PROXY protocol) listener hands them.
type callerTLSListener struct {
	net.Listener
	cfg *tls.Config
}

func (l callerTLSListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, l.cfg), nil
}

// TestServeRefusesCallerTLSListener: a listener handing Serve connections
// that are TLS already (a tls.NewListener's) had them pass through
// unwrapped, fasthttp handshaking them: the sidecar saw no bytes on the
// wire, so nothing checked a client certificate, nothing refused a body
// before it was read (a forged key with a chunked 20 KiB body was
// answered 413 where the handler answers 401), nothing followed the
// requests' framing and a body stalled after its head went unanswered
// and unaudited. Serve now refuses such a listener: it closes it, the
// connection unread, logs once and returns ErrTLSListener, which names
// the sidecar's own TLS (Config.TLS) to use instead. A client gets no
// answer, the service nothing.
func TestServeRefusesCallerTLSListener(t *testing.T) {
	logs := &lockedBuffer{} // upstream_test.go
	st := startStack(t, func(c *Config) { c.Logger = zerolog.New(logs) })
	cfg := &tls.Config{Certificates: []tls.Certificate{newAuthority(t, "server CA").issue(t, "sidecar", nil, true).tls}}
	hostile := "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nX-API-Key: forged-key\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 20<<10, strings.Repeat("x", 20<<10))
	for _, l := range []struct {
		name string
		wrap func(net.Listener) net.Listener
	}{
		{"tls.NewListener", func(ln net.Listener) net.Listener { return tls.NewListener(ln, cfg) }},
		{"a caller's listener handing TLS connections", func(ln net.Listener) net.Listener { return callerTLSListener{ln, cfg} }},
	} {
		t.Run(l.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			logged := strings.Count(logs.String(), "Config.TLS")
			served := make(chan error, 1)
			go func() { served <- st.srv.Serve(l.wrap(ln)) }()
			if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}); err == nil {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, hostile)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				c.Close()
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("a forged key with a chunked 20 KiB body over the caller's TLS listener: answered %d %s; want the listener refused, nothing answered", resp.StatusCode, b)
				}
			}
			select {
			case err := <-served:
				if !errors.Is(err, ErrTLSListener) || !strings.Contains(err.Error(), "Config.TLS") {
					t.Errorf("Serve returned %v; want the error naming the sidecar's own TLS (Config.TLS)", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Serve still serving the caller's TLS listener after 30s")
			}
			// Closed: no connection waits in its queue for an answer.
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Millisecond))
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("the refused listener: Accept says %v; want it closed", err)
			}
			if n := strings.Count(logs.String(), "Config.TLS") - logged; n != 1 {
				t.Errorf("the refusal logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
	if got := st.up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
	if recs := st.sink.all(); len(recs) != 0 {
		t.Errorf("%d audit records, want none (no request was read)", len(recs))
	}
}
