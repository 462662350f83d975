package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// The names a chunked request's Trailer header may not declare (framing,
// routing, credentials, cookies, forwarded addresses, Expect, TE,
// Connection: fasthttp's isBadTrailer) are refused while fasthttp parses
// the head, before any hook and before a byte of the body is read: 400,
// audited bad_request, with no 100 to an Expect. The handler itself
// refuses no declared name (trailersOK drops the Trailer line and checks
// the fields the trailer section brings, which come after the body), so
// nothing is left for the check before the body to do (chunkrec140,
// asked whether Trailer names were checked only after the body).
func TestRefusedTrailerNamesBeforeBody(t *testing.T) {
	st, rec := startRecorded(t, nil)
	for _, name := range []string{"Content-Length", "Transfer-Encoding", "Host", "Authorization", "Cookie", "X-Forwarded-For", "Expect", "Te", "Connection", "X Portcullis-Tenant"} {
		for _, expect := range []string{"", "Expect: 100-continue\r\n"} {
			head := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTrailer: " + name + "\r\n" + expect + "Transfer-Encoding: chunked\r\n\r\n"
			r := firstAnswer(t, st.addr, head, "") // no body sent: the answer comes before it
			if r.status != 400 || r.errorBody(t).Error != "bad_request" {
				t.Errorf("Trailer: %s (%q): %d %q, want 400 bad_request before the body", name, expect, r.status, r.body)
				continue
			}
			if got := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); got.Decision != audit.BadRequest {
				t.Errorf("Trailer: %s: audited %v, want bad_request", name, got.Decision)
			}
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
}
