package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (attack195): a declared body past 16 KiB whose header hook
// panicked was refused past one byte (headerPanicked) with its head kept,
// and bodyRefused took it for a body within its class's limit refused for
// its token's budget: 429 token_failures_limited; with Expect:
// 100-continue it got a 100 first.

// TestHeaderHookPanicDeclaredBody: a declared-length body whose header
// hook panicked is answered as the handler answers it (413 for a body
// past its limit), not 429 token_failures_limited.
func TestHeaderHookPanicDeclaredBody(t *testing.T) {
	sink := &panicOnceSink{}
	st, up := startRecorded(t, func(c *Config) { c.Audit = sink })
	swapDoc(t, st.store, func(d *policy.Document) { d.Audit.Mode = "strict" })
	sink.armed.Store(true)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: hook/1\r\nX-Request-ID: hook-declared\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 20000\r\n\r\n"
	r := firstAnswer(t, st.addr, head+strings.Repeat("x", 20000), "")
	if sink.armed.Load() {
		t.Fatal("the header hook never asked the sink")
	}
	if r.status != 413 || r.errorBody(t).RequestID != "hook-declared" {
		t.Fatalf("answer %d %q, want 413 under the client's request id", r.status, r.body)
	}
	rec := sink.withRequestID(t, "hook-declared")
	if rec.Decision != audit.BodyTooLarge || string(rec.Path()) != "/v1/records" || rec.Route != "/v1/records" {
		t.Errorf("recorded %v %q route %q, want body_too_large /v1/records", rec.Decision, rec.Path(), rec.Route)
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}

// TestHeaderHookPanicExpectNoContinue: a declared body with Expect:
// 100-continue whose header hook panicked gets no 100 (its body would be
// refused past one byte) but 413 at once.
func TestHeaderHookPanicExpectNoContinue(t *testing.T) {
	sink := &panicOnceSink{}
	st, up := startRecorded(t, func(c *Config) { c.Audit = sink })
	swapDoc(t, st.store, func(d *policy.Document) { d.Audit.Mode = "strict" })
	sink.armed.Store(true)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: hook-expect\r\nX-API-Key: " + hrisKey + "\r\nExpect: 100-continue\r\nContent-Length: 20000\r\n\r\n"
	r := firstAnswer(t, st.addr, head, "") // a 100 is the first answer
	if sink.armed.Load() {
		t.Fatal("the header hook never asked the sink")
	}
	if r.status != 413 || r.errorBody(t).RequestID != "hook-expect" {
		t.Fatalf("answer %d %q, want 413 under the client's request id", r.status, r.body)
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}
