package dataplane

import (
	"strings"
	"testing"
)

// Finding (attack135): a chunked body refused past preBodyFree comes to
// errorHandler with its headers gone, and fasthttp answers a reset
// head's Method with "GET": the record of such a refusal named GET for a
// POST (or a PUT, or a method no route has), a request the client never
// made, where the handler's record names the request's method. The check
// before the body keeps the method with its decision (conn.pre).

// TestChunkedRefusalRecordsItsMethod: each request, refused by the check
// before its body, is audited with the method the handler's record names
// for it (a 2-byte body read whole), whether its chunked body is read
// whole or refused past 16 KiB.
func TestChunkedRefusalRecordsItsMethod(t *testing.T) {
	st, rec := startRecorded(t, nil)
	for _, line := range []string{"POST /v1/records", "PUT /v1/nowhere", "PROPFIND /v1/records", "MKCALENDAR /v1/x"} {
		head := line + " HTTP/1.1\r\nHost: svc\r\n"
		whole := firstAnswer(t, st.addr, head+"Content-Length: 2\r\n\r\n{}", "")
		want := st.sink.withRequestID(t, whole.header.Get("X-Request-Id"))
		r := firstAnswer(t, st.addr, head+"Transfer-Encoding: chunked\r\n\r\n5000\r\n"+strings.Repeat("a", 0x5000)+"\r\n", "")
		if r.status != whole.status {
			t.Errorf("%s, chunked 20 KiB: %d %q, the handler's %d", line, r.status, r.body, whole.status)
		}
		got := st.sink.withRequestID(t, r.header.Get("X-Request-Id"))
		if string(got.Method()) != string(want.Method()) || got.Decision != want.Decision {
			t.Errorf("%s, chunked 20 KiB: audited %v method %q; the handler's record: %v method %q", line, got.Decision, got.Method(), want.Decision, want.Method())
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
}
