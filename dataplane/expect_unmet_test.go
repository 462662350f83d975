package dataplane

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// RFC 9110 section 10.1.1: a server that receives an Expect field value
// other than 100-continue may answer 417 (Expectation Failed). fasthttp
// heeds only one "Expect: 100-continue" as written (its first Expect
// line): "Expect: foo" or "100-continue, foo" had the body read as if
// no expectation came, so a client waiting for its answer before sending
// the body waited for the read timeout; "Expect: 100-continue" followed
// by "Expect: foo" got its 100; a request without a body was forwarded.
// Each is answered 417 expectation_failed, in the JSON error shape,
// before any body is read, audited, and its connection closed; so too
// with no policy loaded, whose answer would otherwise be 503 not_ready.
func TestExpectOtherThanContinueIs417(t *testing.T) {
	t.Parallel()
	ready := startStack(t, nil)
	unready := startStack(t, func(c *Config) { c.Store = &policy.Store{} })
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 2\r\n"
	const chunked = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n"
	const get = "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	const post10 = "POST /v1/records HTTP/1.0\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 2\r\n"
	cases := []struct{ name, head string }{
		{"other", post + "Expect: foo\r\n"},
		{"listed-after-continue", post + "Expect: 100-continue, foo\r\n"},
		{"continue-then-other-line", post + "Expect: 100-continue\r\nExpect: foo\r\n"},
		{"other-then-continue-line", post + "Expect: foo\r\nExpect: 100-continue\r\n"},
		{"continue-twice", post + "Expect: 100-continue\r\nexpect: 100-Continue\r\n"},
		{"empty", post + "Expect:\r\n"},
		{"chunked", chunked + "Expect: foo\r\n"},
		{"http10", post10 + "Expect: foo\r\n"},
		{"no-body", get + "Expect: foo\r\n"},
		{"no-body-continue-then-other", get + "Expect: 100-continue\r\nExpect: foo\r\n"},
	}
	for _, tc := range cases {
		for _, st := range []*stack{ready, unready} {
			name := tc.name
			if st == unready {
				name += "-no-policy"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				id := "expect-" + name
				resp, body, br := answerUnsent(t, st.addr, tc.head+"X-Request-ID: "+id+"\r\n\r\n")
				if resp.StatusCode != 417 {
					t.Fatalf("answer %d %s, want 417 expectation_failed", resp.StatusCode, body)
				}
				var e errorBody
				if err := json.Unmarshal(body, &e); err != nil || e.Error != "expectation_failed" || e.RequestID != id || e.Message == "" {
					t.Errorf("body %s, want the JSON error shape naming expectation_failed and request %q", body, id)
				}
				if !resp.Close {
					t.Errorf("417 without Connection: close")
				}
				if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("connection after the 417: %v, want it closed", err)
				}
				if r := st.sink.withRequestID(t, id); r.Decision != audit.ExpectationFailed {
					t.Errorf("audited %v, want expectation_failed", r.Decision)
				}
			})
		}
	}
	t.Cleanup(func() {
		for _, s := range append(ready.up.received(), unready.up.received()...) {
			if strings.HasPrefix(s.headers["x-request-id"], "expect-") {
				t.Errorf("forwarded %s %q", s.uri, s.headers["x-request-id"])
			}
		}
	})
}

// TestExpectUnmetChargesNoToken: a request answered 417 for its
// expectation is not checked further before its body: a forged token
// sent with it, on a body the check before the body would have checked
// it for, spent its source's budget of failures (tokenbudget.go) for a
// request answered 417, and that source's next new token was refused
// unverified, 429, where the handler decides such a request at step 1,
// before the credential.
func TestExpectUnmetChargesNoToken(t *testing.T) {
	t.Parallel()
	st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(2, time.Hour, 2) })
	const src = "127.0.0.150"
	forged := func(expect string) map[string]string {
		h := bearer(forge(t, demoClaims("acme-hris", "acme", "read:users")))
		if expect != "" {
			h["Expect"] = expect
		}
		return h
	}
	big := strings.Repeat("a", 20<<10) // past preBodyFree: the check before the body runs
	for i := range 3 {
		if r := doFrom(t, src, st.addr, "POST", "/v1/records", forged("foo"), big); r.status != 417 {
			t.Fatalf("forged token %d with Expect: foo: %d %s, want 417", i, r.status, r.body)
		}
	}
	if r := doFrom(t, src, st.addr, "GET", "/v1/users/9", forged(""), ""); r.status != 401 {
		t.Errorf("a forged token after three 417s: %d %s, want 401 (its source's budget unspent)", r.status, r.body)
	}
}

// answerUnsent sends head to addr, never its body, and returns the answer
// and the connection's reader (closed when the test ends), within a bound
// of 10 s: a bound, not a timing.
func answerUnsent(t *testing.T, addr, head string) (*http.Response, []byte, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, head)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("waiting for the answer, the body unsent: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, body, br
}
