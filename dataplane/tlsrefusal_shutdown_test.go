package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// closeSignal is a listener that says when it is closed.
type closeSignal struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *closeSignal) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// TestShutdownHonoursDeadlineWhileServeRefusesTLS: Serve refusing a
// listener at a TLS connection (ErrTLSListener) waits, in fasthttp's
// Shutdown, for the plain connections that listener had handed over to
// be answered, holding fasthttp's lock. A Shutdown meanwhile waited for
// that lock, past its own deadline, as long as a request was in flight
// (here, on a stalled service, for the upstream timeout): the drain of a
// pod overran its grace period, and the request in flight was never cut
// and answered. Shutdown with a deadline already passed returns
// ctx.Err() and cuts the request, which is answered 502 and audited.
func TestShutdownHonoursDeadlineWhileServeRefusesTLS(t *testing.T) {
	t.Parallel()
	upAddr, arrived, release := startHeldUpstream(t)
	defer close(release)
	store := &policy.Store{}
	store.Swap(loadExample(t))
	sink := &memSink{}
	srv, err := New(Config{Store: store, Upstream: upAddr, Audit: sink, UpstreamTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := &tls.Config{Certificates: []tls.Certificate{newAuthority(t, "server CA").issue(t, "sidecar", nil, true).tls}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl := &closeSignal{Listener: &plainThenTLSListener{Listener: ln, cfg: cfg}, closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(cl) }()

	// A request held in flight by the stalled service, on the plain
	// connection the listener hands first.
	plain, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetDeadline(time.Now().Add(60 * time.Second))
	io.WriteString(plain, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nX-Request-ID: held-150\r\n\r\n")
	bound := time.After(30 * time.Second) // "does not hang": a bound, not a timing
	select {
	case <-arrived:
	case <-bound:
		t.Fatal("the request never reached the service")
	}

	// A TLS connection: Serve refuses the listener, closes it and waits
	// for the request in flight in fasthttp's Shutdown, which has set its
	// stop flag (the open connection counted whole) under its lock.
	d := net.Dialer{Timeout: 10 * time.Second}
	if c, err := tls.DialWithDialer(&d, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Close()
	}
	select {
	case <-cl.closed:
	case <-bound:
		t.Fatal("Serve did not refuse the listener at a TLS connection")
	}
	for srv.srv.GetOpenConnectionsCount() != 1 {
		select {
		case <-bound:
			t.Fatalf("fasthttp's Shutdown not waiting: %d connections open", srv.srv.GetOpenConnectionsCount())
		case <-time.After(5 * time.Millisecond):
		}
	}

	ctx, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown past its deadline returned %v, want %v", err, context.DeadlineExceeded)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown, its deadline passed, still waiting for the request Serve's refusal waits for")
	}
	resp, err := http.ReadResponse(bufio.NewReader(plain), nil)
	if err != nil {
		t.Fatalf("the request in flight was not answered: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("the request in flight, cut: %d, want 502", resp.StatusCode)
	}
	if r := sink.withRequestID(t, "held-150"); r.Decision != audit.UpstreamError {
		t.Errorf("the request in flight audited %v, want upstream_error", r.Decision)
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrTLSListener) {
			t.Errorf("Serve returned %v, want ErrTLSListener", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Serve still waiting after Shutdown")
	}
}
