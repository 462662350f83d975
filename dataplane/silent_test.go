package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSilentConnectionClosedQuietly: a connection that sends nothing
// before HeaderTimeout (a client's spare, pre-opened connection) is closed
// with no answer, as nginx and fasthttp's own keep-alive path do: an
// answer there is an unsolicited response to the client (Go's transport
// logs one for anything but 408), and no request was made, so nothing is
// audited. A connection whose headers stall halfway still gets its JSON
// answer and its audit record.
func TestSilentConnectionClosedQuietly(t *testing.T) {
	st := startStack(t, func(c *Config) { c.HeaderTimeout = 300 * time.Millisecond })
	c := dialFrom(t, "127.0.0.1", st.addr)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("silent connection: %v after %q; want it closed", err, got)
	}
	if len(got) > 0 {
		t.Errorf("silent connection got an answer: %q", got)
	}

	c = dialFrom(t, "127.0.0.1", st.addr)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n")
	got, _ = io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 4") || !strings.Contains(string(got), `"error"`) {
		t.Errorf("stalled headers got %q; want a JSON 4xx", got)
	}
	st.sink.mu.Lock()
	defer st.sink.mu.Unlock()
	if len(st.sink.recs) != 1 {
		t.Fatalf("audit records: %d, want 1 (the stalled request's)", len(st.sink.recs))
	}
	if r := st.sink.recs[0]; r.Status == http.StatusOK {
		t.Errorf("stalled request audited as %d %s", r.Status, r.Decision)
	}
}
