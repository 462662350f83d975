package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestChunkedBodyCutAtChunkBoundaryAnswered sends chunked bodies that the
// client's FIN cuts where a chunk size should begin: right after the head,
// and after a whole chunk. fasthttp's chunk reader returns io.EOF there,
// which its server takes for a client that closed between requests: the
// request was closed unanswered and unaudited, and the answers to the
// requests pipelined before it, still in fasthttp's write buffer, were
// dropped with the connection, though their records said they were sent
// (a POST the service ran, audited 200, reached the client as nothing).
// Each must be answered: the pipelined GET's 200 first, then the cut
// request's JSON 400, audited bad_request (from attack701).
func TestChunkedBodyCutAtChunkBoundaryAnswered(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" +
		"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
	const get = "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n"
	cases := []struct {
		name, req string
		first     []int // the statuses of the answers before the cut request's
	}{
		{"cut after the head", post, nil},
		{"cut after a whole chunk", post + "2\r\nab\r\n", nil},
		{"pipelined behind a GET, cut after the head", get + post, []int{200}},
		{"pipelined behind a GET, cut after a whole chunk", get + post + "2\r\nab\r\n", []int{200}},
	}
	for _, c := range cases {
		n := len(up.received())
		conn, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, c.req)
		conn.(*net.TCPConn).CloseWrite()
		br := bufio.NewReader(conn)
		for _, want := range append(c.first, 400) {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Errorf("%s: no answer %d (%v)", c.name, want, err)
				break
			}
			b, _ := io.ReadAll(resp.Body)
			r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
			if r.status != want {
				t.Errorf("%s: answered %d %q, want %d", c.name, r.status, r.body, want)
				break
			}
			if want != 400 {
				continue
			}
			if e := r.errorBody(t); e.Error != "bad_request" {
				t.Errorf("%s: %q, want bad_request", c.name, r.body)
			}
			if rec := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rec.Decision != audit.BadRequest || string(rec.Path()) != "/v1/records" {
				t.Errorf("%s: audited %v for %q, want bad_request for /v1/records", c.name, rec.Decision, rec.Path())
			}
		}
		conn.Close()
		if got := len(up.received()) - n; got != len(c.first) {
			t.Errorf("%s: the upstream got %d requests, want %d", c.name, got, len(c.first))
		}
	}
}
