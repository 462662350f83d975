package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The intake listener closes every connection that has not authenticated
// once it is answered, so such a connection lives about 5 s and holds one
// of its address's 8 places for no longer. POST /v1/alertmanager was
// answered by a handler of its own in front of the collector: its 401 (and
// its 405) left the connection open, to idle for a minute and be used
// again, each request answered and the connection kept, for as long as
// the client liked. Every answer there now closes the connection.
func TestAlertmanagerAnswersCloseTheConnection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, det := openDetection(t, context.Background(), dir, signingKey(t), examplePolicy, nil)
	defer store.Close()
	const tok = "sidecar-a-token-0123456789abcdef0123"
	tokens := []collector.SenderToken{{Name: "a", Token: tok}}
	col, err := collector.New(store, collector.Config{Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	srv := col.HTTPServer()
	ams := []collector.SenderToken{{Name: "prom", Token: "alertmanager-token-0123456789abcdef0123"}}
	if srv.Handler, err = det.routes(srv.Handler, tokens, ams); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	for _, req := range []string{
		"POST /v1/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
		"GET /v1/alertmanager HTTP/1.1\r\nHost: x\r\n\r\n",
		// A body declared and never sent: the answer's close waited the
		// read timeout (1 min) for it (collector.BoundDrain).
		"POST /v1/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, req)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%q without a token: %s, want 401 or 405", req, resp.Status)
		}
		// The server closes the connection: EOF, well before the
		// minute an idle keep-alive connection is kept.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%q without a token: after the %s the connection stays open (read: %v), want it closed", req, resp.Status, err)
		}
	}
}
