package dataplane

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestBadRequestLineHoldsNoClientBytes: a request line fasthttp cannot
// parse (a method with a byte no method has, no target, a target that is
// not one, a version that is not one, a header line where the request
// line goes), or one whose version the sidecar refuses, carrying a
// bearer token, is answered 400 in the JSON error shape, and neither the
// answer, nor its audit record, nor the sidecar's log at debug level
// holds any of the token: the record names the method fasthttp answers
// for a reset head (GET) and no path ("-"). fasthttp resets the head it
// failed to parse, raw method included, and its error messages, which
// quote the line (SecureErrorLogMessage does not cover them all), reach
// neither the log (fasthttpLogger drops the arguments) nor the answer.
// The same holds for the line of a request pipelined behind one served,
// and for one past the header buffer (431).
func TestBadRequestLineHoldsNoClientBytes(t *testing.T) {
	logs := &syncBuffer{}
	st, rec := startRecorded(t, func(c *Config) { c.Logger = zerolog.New(logs).Level(zerolog.DebugLevel) })
	const tok = "Zq7RequestLineSecret"
	const rest = "\r\nHost: svc\r\nX-Request-ID: line-id\r\n\r\n"
	served := "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n"
	for _, c := range []struct{ name, req string }{
		{"a method with a byte no method has", tok + "{ /v1/users HTTP/1.1" + rest},
		{"a control byte in the method", "Bearer" + tok + "\x01 /v1/users HTTP/1.1" + rest},
		{"the token where the version goes", "GET /v1/users Bearer " + tok + rest},
		{"the token after the version", "GET /v1/users HTTP/1.1 Bearer " + tok + rest},
		{"no target", "Bearer " + tok + rest},
		{"the token as the target", "GET " + tok + " HTTP/1.1" + rest},
		{"a control byte in the query", "GET /v1/users?access_token=" + tok + "\x01 HTTP/1.1" + rest},
		{"a version the sidecar refuses", "GET /v1/users?access_token=" + tok + " HTTP/9.9" + rest},
		{"a header line first", "Authorization: Bearer " + tok + rest},
		{"a control byte first", "\x01" + tok + " / HTTP/1.1" + rest},
		{"pipelined behind a request served", served + tok + "{ /v1/users HTTP/1.1" + rest},
		{"past the header buffer", "GET /v1/users?access_token=" + strings.Repeat(tok, 1000) + " HTTP/1.1" + rest},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, c.req)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(c.req, served) {
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("the request served first: %d", resp.StatusCode)
				}
				if resp, err = http.ReadResponse(br, nil); err != nil {
					t.Fatal(err)
				}
			}
			body, _ := io.ReadAll(resp.Body)
			want := 400
			if strings.HasPrefix(c.name, "past") {
				want = 431
			}
			var shape map[string]string
			jerr := json.Unmarshal(body, &shape)
			if resp.StatusCode != want || jerr != nil || len(shape) != 3 ||
				shape["error"] == "" || shape["message"] == "" || shape["request_id"] != resp.Header.Get("X-Request-Id") {
				t.Errorf("answer %d %s, want %d and the JSON error shape", resp.StatusCode, body, want)
			}
			var answer bytes.Buffer
			resp.Header.Write(&answer)
			if strings.Contains(answer.String()+string(body), tok[:8]) {
				t.Errorf("the answer holds the client's bytes: %s%s", answer.String(), body)
			}
			r := st.sink.withRequestID(t, shape["request_id"])
			if string(r.Method()) != "GET" || string(r.Path()) != "-" {
				t.Errorf("audited %q %q, want GET -", r.Method(), r.Path())
			}
		})
	}
	st.sink.mu.Lock()
	for _, r := range st.sink.recs {
		if line := r.AppendJSON(nil); bytes.Contains(line, []byte(tok[:8])) {
			t.Errorf("an audit record holds the client's bytes: %s", line)
		}
	}
	st.sink.mu.Unlock()
	if out := logs.String(); strings.Contains(out, tok[:8]) || strings.Contains(out, "DemoAcmeHris") {
		t.Errorf("the log holds the client's bytes:\n%s", out)
	}
	if got := rec.received(); len(got) != 1 {
		t.Errorf("the upstream got %d request(s), want the one served", len(got))
	}
}
