package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// An upstream that fails every request (down, resetting, answering
// garbage, or a route an attacker knows to be slow) made one warn line
// per request: at thousands of requests a second, thousands of
// synchronous writes to stderr on the request path and a flooded log
// pipeline. Now the first failure is logged at once and the rest at most
// once a second, each line with the number left out since the last, so
// every failure is accounted for.
func TestUpstreamFailuresLogRateLimited(t *testing.T) {
	logs := &syncBuffer{}
	st, up := startRecorded(t, func(c *Config) { c.Logger = zerolog.New(logs) })
	up.respond = func(w io.Writer, r *http.Request) { io.WriteString(w, "HTTP/1.1 2x0 garbage\r\n\r\n") }
	const n = 200
	start := time.Now()
	for range n {
		if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 502 {
			t.Fatalf("got %d, want 502", r.status)
		}
	}
	elapsed := time.Since(start)
	lines, suppressed := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m struct {
			Msg        string `json:"message"`
			Suppressed int    `json:"suppressed"`
			RequestID  string `json:"request_id"`
			Error      string `json:"error"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.Msg != "upstream request failed" {
			continue
		}
		if m.RequestID == "" || m.Error == "" {
			t.Errorf("line without request id or error kind: %s", l)
		}
		lines++
		suppressed += m.Suppressed
	}
	if most := 2 + int(elapsed/time.Second); lines == 0 || lines > most {
		t.Errorf("%d upstream failure lines for %d failures in %v, want 1 to %d", lines, n, elapsed, most)
	}
	if lines+suppressed > n {
		t.Errorf("lines %d + suppressed %d exceed the %d failures", lines, suppressed, n)
	}
}

// A client's X-Request-ID is kept when well formed and free of the API
// key prefix, but it is the client's bytes: a secret of another kind
// (sk_live_...) fits one, and the log lines naming the request held it.
// A log line names a request by the id the sidecar made, or by the
// first 8 bytes of the SHA-256 of the client's (request_id_sha256: the
// audit record holds the id itself).
func TestLogLinesHoldNoClientRequestID(t *testing.T) {
	logs := &syncBuffer{}
	st, up := startRecorded(t, func(c *Config) { c.Logger = zerolog.New(logs) })
	up.respond = func(w io.Writer, r *http.Request) { io.WriteString(w, "HTTP/1.1 2x0 garbage\r\n\r\n") }
	const id = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
	if r := do(t, st.addr, "GET", "/v1/status", map[string]string{"X-Request-ID": id}, ""); r.status != 502 || r.header.Get("X-Request-Id") != id {
		t.Fatalf("got %d, request id %q: want 502 and the client's id kept", r.status, r.header.Get("X-Request-Id"))
	}
	sum := sha256.Sum256([]byte(id))
	out := logs.String()
	if strings.Contains(out, "sk_live_") {
		t.Fatalf("a log line holds the client's request id:\n%s", out)
	}
	if want := `"request_id_sha256":"` + hex.EncodeToString(sum[:8]) + `"`; !strings.Contains(out, want) {
		t.Errorf("no log line with %s:\n%s", want, out)
	}
	st.srv.upLog.last.Store(0) // the next failure is logged at once, as the first
	r := do(t, st.addr, "GET", "/v1/status", nil, "")
	if made := r.header.Get("X-Request-Id"); r.status != 502 || !strings.Contains(logs.String(), `"request_id":"`+made+`"`) {
		t.Errorf("got %d: no log line names the id the sidecar made, %q:\n%s", r.status, made, logs.String())
	}
}
