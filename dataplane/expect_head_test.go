package dataplane

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestExpectUnmetAfterHeadCheck: a request whose head step 1 refuses (a
// name with '_', two credentials, Content-Length beside chunked, an
// obs-folded line) is answered as step 1 answers it, 400 bad_request (503
// not_ready with no policy), whether it also carries an expectation the
// sidecar does not meet and whether it declares a body. The handler
// (decide) checks the head first; for a request with a body, answered
// before it (expect, errorHandler), the 417 came first and the smuggling
// shapes were audited expectation_failed. An Expect line folded onto a
// second one ("100-continue" then " foo": "100-continue foo" to
// fasthttp) got neither 100 nor an answer: its body was read as if no
// expectation came, the client waiting for the read timeout.
func TestExpectUnmetAfterHeadCheck(t *testing.T) {
	t.Parallel()
	ready := startStack(t, nil)
	unready := startStack(t, func(c *Config) { c.Store = &policy.Store{} })
	const key = "X-API-Key: " + hrisKey + "\r\n"
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + key
	const get = "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + key
	cases := []struct {
		name, head string
		noPolicy   bool // also sent with no policy loaded: 503 not_ready
	}{
		{"underscore", post + "Expect: foo\r\nX_Tenant: acme\r\nContent-Length: 2\r\n", true},
		{"underscore-no-body", get + "Expect: foo\r\nX_Tenant: acme\r\n", true},
		{"two-credentials", post + "Authorization: Bearer x.y.z\r\nExpect: foo\r\nContent-Length: 2\r\n", true},
		{"two-credentials-no-body", get + "Authorization: Bearer x.y.z\r\nExpect: foo\r\n", true},
		{"chunked-and-length", post + "Expect: foo\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n", true},
		{"expect-folded", post + "Expect: 100-continue\r\n foo\r\nContent-Length: 2\r\n", false},
		{"expect-folded-no-body", get + "Expect: 100-continue\r\n foo\r\n", false},
	}
	for _, tc := range cases {
		for _, st := range []*stack{ready, unready} {
			name, want, wantCode := tc.name, audit.BadRequest, 400
			if st == unready {
				if !tc.noPolicy {
					continue
				}
				name, want, wantCode = name+"-no-policy", audit.NotReady, 503
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				id := "expecthead-" + name
				line, rest, _ := strings.Cut(tc.head, "\r\n")
				resp, body, br := answerUnsent(t, st.addr, line+"\r\nX-Request-ID: "+id+"\r\n"+rest+"\r\n")
				if resp.StatusCode != wantCode {
					t.Fatalf("answer %d %s, want %d %v", resp.StatusCode, body, wantCode, want)
				}
				var e errorBody
				if err := json.Unmarshal(body, &e); err != nil || e.Error != want.String() {
					t.Errorf("body %s, want the JSON error shape naming %v", body, want)
				}
				if wantCode == 400 {
					if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
						t.Errorf("connection after the 400: %v, want it closed", err)
					}
				}
				if r := st.sink.withRequestID(t, id); r.Decision != want {
					t.Errorf("audited %v, want %v", r.Decision, want)
				}
			})
		}
	}
	t.Cleanup(func() {
		for _, s := range append(ready.up.received(), unready.up.received()...) {
			if strings.HasPrefix(s.headers["x-request-id"], "expecthead-") {
				t.Errorf("forwarded %s %q", s.uri, s.headers["x-request-id"])
			}
		}
	})
}
