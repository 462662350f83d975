package dataplane

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/limiter"
)

// Finding (attack135): a token the check before the body refused was
// verified again, and charged to its source's budget of failures again,
// by the answer to its refused body (bodyRefused), and a third time with
// Expect: 100-continue (expect ran the check again before it): an upload
// with a forged token spent two or three units of its source's budget
// and as many signature verifications where the handler spends one, and
// was answered 429 token_failures_limited, not the handler's 401, once
// the second or third check found the budget spent. The decision kept on
// the connection (conn.pre) now answers it.

// TestRefusedUploadChargesTheTokenOnce sends, from one source with a
// budget of 4 failures, five forged tokens each way over a real socket: a
// 2-byte body read whole (the handler), 60000 bytes declared, Expect with
// 60000 declared, and a 20 KiB chunked body. Each way gets the handler's
// answers: four 401s audited unauthenticated, then 429.
func TestRefusedUploadChargesTheTokenOnce(t *testing.T) {
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nAuthorization: Bearer e30.e30.\r\n"
	ways := []struct{ how, req string }{
		{"a 2-byte body read whole", head + "Content-Length: 2\r\n\r\n{}"},
		{"60000 bytes declared", head + "Content-Length: 60000\r\n\r\n"},
		{"Expect: 100-continue, 60000 bytes declared", head + "Expect: 100-continue\r\nContent-Length: 60000\r\n\r\n"},
		{"chunked, 20 KiB sent", head + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
	}
	for _, w := range ways {
		st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(4, time.Hour, 4) })
		var got []int
		for i := range 5 {
			want, d := 401, audit.Unauthenticated
			if i == 4 {
				want, d = 429, audit.TokenFailuresLimited
			}
			r := firstAnswer(t, st.addr, w.req, "")
			got = append(got, r.status)
			if r.status != want {
				continue
			}
			if rec := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rec.Decision != d {
				t.Errorf("%s, request %d: audited %v, want %v", w.how, i+1, rec.Decision, d)
			}
		}
		if want := []int{401, 401, 401, 401, 429}; !slices.Equal(got, want) {
			t.Errorf("%s: answers %v, want %v (the handler's, one unit of the budget a token)", w.how, got, want)
		}
	}
}
