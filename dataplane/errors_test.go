package dataplane

import (
	"strings"
	"testing"
)

func TestOversizedHeaders(t *testing.T) {
	st := startStack(t, func(c *Config) { c.MaxHeaderBytes = 4096 })
	r := do(t, st.addr, "GET", "/v1/users", map[string]string{"X-API-Key": hrisKey, "X-Big": strings.Repeat("a", 8000)}, "")
	if r.status != 431 {
		t.Fatalf("got %d, want 431", r.status)
	}
	if e := r.errorBody(t); e.Error != "header_too_large" {
		t.Errorf("error = %q", e.Error)
	}
}

// A request fasthttp cannot parse is answered by the error handler, which
// records it too: a panic there is not a dead process, and the answer
// already decided (431) stands (TestErrorHandlerRecordPanicKeepsItsAnswer).
func TestPanicInErrorHandlerRecord(t *testing.T) {
	sink := &panicSink{}
	st := startStack(t, func(c *Config) { c.Audit = sink })
	huge := "GET /v1/status HTTP/1.1\r\nHost: svc\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"
	if r := raw(t, st.addr, huge); r.status != 431 {
		t.Errorf("oversized header with a panicking sink: %d %s, want 431", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 500 {
		t.Errorf("next request: %d, want the server still answering", r.status)
	}
	if got := sink.swaps.Load(); got != 2 {
		t.Errorf("sink saw %d records, want 2", got)
	}
}
