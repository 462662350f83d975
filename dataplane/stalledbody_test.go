package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Finding (attack135): a request whose head arrived and whose body then
// stalled past ReadTimeout (or was cut by a reset) was closed without an
// answer and without an audit record: fasthttp resets the request when
// a body read fails and hands errorHandler the read's error as it came,
// which nothingRead took for a connection that never sent a byte. A
// request the check before the body had refused (a forged key with a
// chunked body) or allowed left no trace. The connection now marks a
// head received (conn.headIn, headerReceived), and such a failure is
// answered and audited like headers that stall (400).

// TestStalledBodyAnsweredAndAudited sends over a real socket a head
// and part of its body, then nothing: each gets a JSON 400 and its
// audit record, as stalled headers do (TestSilentConnectionClosedQuietly).
func TestStalledBodyAnsweredAndAudited(t *testing.T) {
	st := startStack(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\n"
	cases := []struct{ name, req string }{
		{"verified, half of a declared body", post + "X-API-Key: " + hrisKey + "\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("a", 50)},
		{"verified, 60000 declared, 1000 sent", post + "X-API-Key: " + hrisKey + "\r\nContent-Length: 60000\r\n\r\n" + strings.Repeat("a", 1000)},
		{"no credential, part of a chunk", post + "Transfer-Encoding: chunked\r\n\r\n3000\r\n" + strings.Repeat("a", 100)},
		{"an unknown key, part of a chunk", post + "X-API-Key: pk_acmehris1_NotTheSecret0000000000000000000001\r\nTransfer-Encoding: chunked\r\n\r\n3000\r\n" + strings.Repeat("a", 100)},
	}
	for _, c := range cases {
		conn, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, c.req)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: no answer (%v), want a JSON 400 and an audit record", c.name, err)
			conn.Close()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
		if r.status != 400 || r.errorBody(t).Error != "bad_request" {
			t.Errorf("%s: %d %q, want 400 bad_request", c.name, r.status, r.body)
			continue
		}
		if rec := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rec.Decision != audit.BadRequest {
			t.Errorf("%s: audited %v, want bad_request", c.name, rec.Decision)
		}
	}
}
