package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestExpectFromHTTP10Ignored: RFC 9110 section 10.1.1 says a server
// that receives a 100-continue expectation in an HTTP/1.0 request MUST
// ignore it. fasthttp answered it with "100 Continue", which HTTP/1.0
// does not have (a client or proxy of that version takes it for the
// final answer), and the sidecar refused it instead: 400, closed, with a
// body or without, in any case but one: "100-Continue" without a body
// went to the service, "100-continue" was refused. It is now ignored in
// any case, body or not: no 100 is written, the request is checked and
// served as one without Expect (the check before the body too: a body
// past 16 KiB without a credential is 401, unread), and the service never
// gets Expect. Another expectation is 417 on HTTP/1.0 as on HTTP/1.1
// (TestExpectOtherThanContinueIs417).
func TestExpectFromHTTP10Ignored(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
			policy.RouteSpec{Method: "GET", Path: "/v1/search", Class: "standard", Public: true, AllowBody: true})
	})
	const key = "X-API-Key: " + hrisKey + "\r\n"
	for _, v := range []string{"100-continue", "100-Continue", "100-CONTINUE"} {
		for _, tc := range []struct {
			name, method, request, body string
		}{
			{"body", "POST", "POST /v1/records HTTP/1.0\r\nHost: svc\r\n" + key + "Content-Length: 2\r\n", "{}"},
			{"public-route", "GET", "GET /v1/search HTTP/1.0\r\nHost: svc\r\nContent-Length: 5\r\n", "hello"},
			{"no-body", "GET", "GET /v1/users HTTP/1.0\r\nHost: svc\r\n" + key, ""},
			{"empty-body", "POST", "POST /v1/records HTTP/1.0\r\nHost: svc\r\n" + key + "Content-Length: 0\r\n", ""},
		} {
			t.Run(v+"/"+tc.name, func(t *testing.T) {
				id := "expect10-" + v + "-" + tc.name
				r, _ := rawClosed(t, st.addr, tc.method, tc.request+"Expect: "+v+"\r\nX-Request-ID: "+id+"\r\n\r\n"+tc.body)
				if r.status != 200 {
					t.Fatalf("first answer %d %s, want the final 200 (no 100, no refusal)", r.status, r.body)
				}
				if rec := st.sink.withRequestID(t, id); rec.Decision != audit.Allowed {
					t.Errorf("audited %v, want allowed", rec.Decision)
				}
				for _, got := range up.received() {
					if got.header.Get("X-Request-Id") != id {
						continue
					}
					if e := got.values("expect"); len(e) > 0 {
						t.Errorf("the service got Expect %q", e)
					}
					if string(got.body) != tc.body {
						t.Errorf("the service got body %q, want %q", got.body, tc.body)
					}
					return
				}
				t.Errorf("the service did not get the request")
			})
		}
	}
	t.Run("keep-alive-pipeline", func(t *testing.T) {
		// Kept alive, the body and the next requests sent at once: each
		// answered on its own, none with a 100, none forwarded with Expect.
		// A stack of its own: the client's bucket (10 a burst) is the
		// cases' above.
		st, up := startRecorded(t, nil)
		n := len(up.received())
		out := rawAll(t, st.addr, "POST /v1/records HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n"+key+"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"+
			"GET /v1/users HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n"+key+"Expect: 100-Continue\r\n\r\n"+
			"GET /v1/users HTTP/1.0\r\nHost: svc\r\n"+key+"\r\n", 2*time.Second)
		if strings.Count(out, " 200 OK\r\n") != 3 || strings.Contains(out, " 100 ") {
			t.Errorf("the client got %q, want three 200s and no 100", out)
		}
		got := up.received()[n:]
		if len(got) != 3 {
			t.Fatalf("the service got %d requests, want 3", len(got))
		}
		for _, r := range got {
			if e := r.values("expect"); len(e) > 0 {
				t.Errorf("the service got %s %s with Expect %q", r.method, r.uri, e)
			}
		}
	})
	t.Run("unauthenticated-large", func(t *testing.T) {
		// The check before the body still runs: 401 before a byte of
		// the body is sent.
		r, body, _ := answerUnsent(t, st.addr, "POST /v1/records HTTP/1.0\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 20000\r\n\r\n")
		if r.StatusCode != 401 {
			t.Errorf("first answer %d %s, want 401 before the body", r.StatusCode, body)
		}
	})
	t.Run("other-expectation-no-body", func(t *testing.T) {
		r, body, _ := answerUnsent(t, st.addr, "GET /v1/users HTTP/1.0\r\nHost: svc\r\n"+key+"Expect: 100-continue\r\nExpect: foo\r\n\r\n")
		if r.StatusCode != 417 || !strings.Contains(string(body), "expectation_failed") {
			t.Errorf("answer %d %s, want 417 expectation_failed", r.StatusCode, body)
		}
	})
}
