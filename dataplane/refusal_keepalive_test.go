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
	"github.com/portcullis/portcullis/policy"
)

// What a request was refused for before the handler (conn.pre)
// is its own, on a kept-alive connection too: begin hands it over and
// clears it (conn.handOver).

// TestPreRefusalStaysWithItsRequest: on one kept-alive connection, a
// request refused or marked before its body (the check's decision, a
// panic of the header hook, a 100 Continue passed) is answered and
// recorded for itself, and the request after it, whose expectation is
// answered on what was found of it alone (expect reads conn.pre), gets
// its 100 and is served: not 413 for the panic before it, nor the 401
// before it. A kind left on the connection is seen by expect and
// errorHandler only: the handler decides a request read whole itself.
func TestPreRefusalStaysWithItsRequest(t *testing.T) {
	sink := &panicOnceSink{}
	st, up := startRecorded(t, func(c *Config) { c.Audit = sink })
	swapDoc(t, st.store, func(d *policy.Document) { d.Audit.Mode = "strict" })
	post := func(id, key, rest string) string {
		if key != "" {
			key = "X-API-Key: " + key + "\r\n"
		}
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: " + id + "\r\n" + key + rest
	}
	big := strings.Repeat("x", 20000) // past preBodyFree: the check before the body runs
	type step struct {
		req, later string // later: sent after a 100 Continue
		arm        bool   // the header hook panics (strict audit's sink)
		status     int
		decision   audit.Decision
		forwarded  bool
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"after the check's decision", []step{
			{req: post("ka-decided", "", "Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"), status: 401, decision: audit.Unauthenticated},
			{req: post("ka-decided-next", hrisKey, "Expect: 100-continue\r\nContent-Length: 20000\r\n\r\n"), later: big, status: 200, decision: audit.Allowed, forwarded: true},
		}},
		{"after a panic of the header hook", []step{
			{req: post("ka-panicked", hrisKey, "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), arm: true, status: 200, decision: audit.Allowed, forwarded: true},
			{req: post("ka-panicked-next", hrisKey, "Expect: 100-continue\r\nContent-Length: 20000\r\n\r\n"), later: big, status: 200, decision: audit.Allowed, forwarded: true},
		}},
		{"after 100 Continue", []step{
			{req: post("ka-continued", hrisKey, "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"), later: "4\r\nbody\r\n0\r\n\r\n", status: 200, decision: audit.Allowed, forwarded: true},
			{req: post("ka-continued-next", hrisKey, "Expect: 100-continue\r\nContent-Length: 20000\r\n\r\n"), later: big, status: 200, decision: audit.Allowed, forwarded: true},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			for _, s := range c.steps {
				id := s.req[strings.Index(s.req, "X-Request-ID: ")+len("X-Request-ID: "):]
				id = id[:strings.IndexByte(id, '\r')]
				sink.armed.Store(s.arm)
				n := len(up.received())
				io.WriteString(conn, s.req)
				resp, err := http.ReadResponse(br, nil)
				if err == nil && resp.StatusCode == 100 {
					io.WriteString(conn, s.later)
					resp, err = http.ReadResponse(br, nil)
				}
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if s.arm && sink.armed.Load() {
					t.Fatalf("%s: the header hook never asked the sink", id)
				}
				if resp.StatusCode != s.status || resp.Header.Get("X-Request-Id") != id {
					t.Fatalf("%s: answer %d %q under %q, want %d under its own id", id, resp.StatusCode, body, resp.Header.Get("X-Request-Id"), s.status)
				}
				rec := sink.withRequestID(t, id)
				if rec.Decision != s.decision || string(rec.Path()) != "/v1/records" || rec.Route != "/v1/records" {
					t.Errorf("%s: recorded %v %q route %q, want %v /v1/records", id, rec.Decision, rec.Path(), rec.Route, s.decision)
				}
				if got := len(up.received()) - n; got != 0 != s.forwarded {
					t.Errorf("%s: the service received %d requests, forwarded want %v", id, got, s.forwarded)
				}
			}
		})
	}
}
