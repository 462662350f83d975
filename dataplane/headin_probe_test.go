package dataplane

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestAnsweredRequestsGetNoSpurious400 (attack137): the answer to a body
// that stalls after its head (conn.headIn) is given only to such a body:
// a connection that goes quiet after complete requests (one with a body,
// pipelined ones, a refused Expect) gets each answer once, then is closed
// with no further 400 and no further audit record. It guards that
// behaviour, not begin's reset of headIn: fasthttp closes a quiet
// kept-alive connection without calling errorHandler, so with the reset
// taken out this test still passes (the reset is kept as the invariant
// headIn's comment states, for a future fasthttp that does call it).
func TestAnsweredRequestsGetNoSpurious400(t *testing.T) {
	st := startStack(t, func(c *Config) {
		c.ReadTimeout = 300 * time.Millisecond
		c.HeaderTimeout = 300 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nContent-Type: application/json\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 2\r\n\r\n{}"
	const get = "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n"
	for _, c := range []struct {
		name, req string
		answers   int
	}{
		{"a POST with its body", post, 1},
		{"a POST then a GET, pipelined", post + get, 2},
		{"a GET then a POST, pipelined", get + post, 2},
		{"a chunked POST", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nContent-Type: application/json\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 1},
		{"an Expect refused", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nX-API-Key: pk_acmehris1_NotTheSecret0000000000000000000001\r\nContent-Length: 30000\r\n\r\n", 1},
	} {
		before := sinkLen(st.sink)
		conn := dialFrom(t, "127.0.0.1", st.addr)
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(conn, c.req)
		got, err := io.ReadAll(conn)
		conn.Close()
		if err != nil {
			t.Errorf("%s: %v after %q; want the connection closed", c.name, err, got)
			continue
		}
		if n := strings.Count(string(got), "HTTP/1.1 "); n != c.answers || strings.Contains(string(got), "HTTP/1.1 400") {
			t.Errorf("%s: %d answers (%q), want %d and no 400", c.name, n, got, c.answers)
		}
		if n := sinkLen(st.sink) - before; n != c.answers {
			t.Errorf("%s: %d audit records, want %d", c.name, n, c.answers)
		}
	}
}

func sinkLen(m *memSink) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}
