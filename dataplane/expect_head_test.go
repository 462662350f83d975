package dataplane

import (
	"encoding/json"
	"errors"
	"net/netip"
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

// TestExpectUnmetAfterForwardedSource: behind a trusted proxy, the
// forwarded source is part of step 1 (docs/ARCHITECTURE.md), checked
// before the expectation: a request from the proxy carrying both
// X-Forwarded-For and Forwarded, which decide refuses, is 400 bad_request
// whatever it expects, with a body or without; one with a single
// forwarded header and "Expect: foo" is 417 expectation_failed, audited
// with the forwarded client's address in both shapes. decide checked the
// expectation before the source, and errorHandler never checked the
// source: both shapes answered the conflict 417, and the 417 was
// audited with the proxy's address, not the client's.
func TestExpectUnmetAfterForwardedSource(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const key = "X-API-Key: " + hrisKey + "\r\n"
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + key + "Content-Length: 2\r\n"
	const get = "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + key
	const xff = "X-Forwarded-For: 198.51.100.7\r\n"
	const both = xff + "Forwarded: for=198.51.100.8\r\n"
	client := netip.MustParseAddr("198.51.100.7")
	for _, tc := range []struct {
		name, head string
		want       audit.Decision
		code       int
	}{
		{"both-forwarded", post + both, audit.BadRequest, 400},
		{"both-forwarded-no-body", get + both, audit.BadRequest, 400},
		{"forwarded", post + xff, audit.ExpectationFailed, 417},
		{"forwarded-no-body", get + xff, audit.ExpectationFailed, 417},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "expectfwd-" + tc.name
			r := proxiedFirstAnswer(t, st.addr, tc.head+"Expect: foo\r\nX-Request-ID: "+id+"\r\n\r\n", "")
			if r.status != tc.code || !strings.Contains(r.body, `"error":"`+tc.want.String()+`"`) {
				t.Fatalf("answer %d %s, want %d %v", r.status, r.body, tc.code, tc.want)
			}
			rec := st.sink.withRequestID(t, id)
			if rec.Decision != tc.want {
				t.Errorf("audited %v, want %v", rec.Decision, tc.want)
			}
			if tc.code == 417 && rec.SourceIP != client {
				t.Errorf("audited source %v, want the forwarded client %v", rec.SourceIP, client)
			}
		})
	}
}
