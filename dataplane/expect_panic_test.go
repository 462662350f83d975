package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// A small declared body with Expect: 100-continue
// skips the check before the body in the header hook (it fits every
// class) and is checked by expect, which fasthttp calls outside any
// recover: a panic there (a strict audit sink's Accepting) took the
// whole sidecar down.

// TestExpectCheckPanicIsRefused: a panic of the check expect runs
// refuses the request as a panic of the header hook does (413, its
// body unread, no 100), recorded with its head's names, and the
// sidecar serves on.
func TestExpectCheckPanicIsRefused(t *testing.T) {
	sink := &panicOnceSink{}
	st, up := startRecorded(t, func(c *Config) { c.Audit = sink })
	swapDoc(t, st.store, func(d *policy.Document) { d.Audit.Mode = "strict" })
	sink.armed.Store(true)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: expect/9\r\nX-Request-ID: expect-panic\r\nX-API-Key: " + hrisKey + "\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"
	r := firstAnswer(t, st.addr, head, "0123456789")
	if sink.armed.Load() {
		t.Fatal("the check never asked the sink")
	}
	if r.status != 413 || r.errorBody(t).RequestID != "expect-panic" {
		t.Fatalf("answer %d %q, want 413 under the client's request id", r.status, r.body)
	}
	rec := sink.withRequestID(t, "expect-panic")
	if rec.Decision != audit.BodyTooLarge || string(rec.Path()) != "/v1/records" || rec.Route != "/v1/records" || string(rec.UserAgent()) != "expect/9" {
		t.Errorf("recorded %v %q route %q User-Agent %q, want body_too_large /v1/records expect/9", rec.Decision, rec.Path(), rec.Route, rec.UserAgent())
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
	// The sidecar serves on.
	const next = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: expect-after\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 2\r\n\r\n{}"
	if r := firstAnswer(t, st.addr, next, ""); r.status != 200 {
		t.Fatalf("next answer %d %q, want 200", r.status, r.body)
	}
}
