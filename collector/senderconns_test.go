package collector

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestOneSenderCannotTakeEveryConnection: a stolen token authenticates
// connection after connection and keeps each alive. It held every one of
// MaxConns, so every other sender's new connection was closed as it
// arrived and its batches went to its spool (a strict-audit sidecar's
// fills and refuses traffic). A sender now holds at most half of
// MaxConns when another can send (a second token, client certificates),
// as it holds at most half the in-flight budget; the connection past
// that is answered 503 collector_busy and closed.
func TestOneSenderCannotTakeEveryConnection(t *testing.T) {
	t.Parallel()
	srv, st := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{MaxConns: 4, UnauthTimeout: time.Minute})
	post := func(c net.Conn, token, id string) (*http.Response, error) {
		body := encodeBatch(id, sampleRecord(1))
		fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", FormatProtobuf, token, len(body), body)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	held := 0
	for i := range 4 {
		c := dialRaw(t, srv.URL)
		resp, err := post(c, aliceToken, fmt.Sprintf("hog-%d", i))
		if err != nil || resp.StatusCode != http.StatusOK {
			if err == nil && (resp.StatusCode != http.StatusServiceUnavailable || !resp.Close) {
				t.Errorf("connection %d past the sender's share: status %d, close %v; want 503 and the connection closed", i, resp.StatusCode, resp.Close)
			}
			break
		}
		held++
	}
	if held != 2 {
		t.Errorf("one sender holds %d of the 4 connections, want at most half, 2", held)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := dialRaw(t, srv.URL)
		resp, err := post(c, bobToken, "other-sender")
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another sender's batch was not served while one sender held its connections: %v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond) // the server notices the refused connection's close asynchronously
	}
	if got := st.Stats().Batches; got != 3 {
		t.Errorf("stored %d batches, want 3", got)
	}
}
