package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// TestPathEscapesNotUTF8Refused sends paths whose escapes decode to bytes
// that are not UTF-8 over a socket. An overlong form spells '.', '/' or
// '\' to a lenient decoder (IIS's %c0%af, Tomcat's CVE-2008-2938, Java's
// modified UTF-8): /v1/reports/%C0%AE%C0%AE%C0%AFusers matched the
// reports route with globex-bi's read:reports and went on as it came, and
// such a service read /v1/reports/../users, a route globex-bi has no scope
// for (found by an outside review). Escapes of UTF-8 pass.
func TestPathEscapesNotUTF8Refused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	for _, target := range []string{
		"/v1/reports/%C0%AE%C0%AE%C0%AFusers", // overlong '.', '.', '/'
		"/v1/reports/%c0%ae%c0%ae",
		"/v1/reports/%C1%9Cusers",        // overlong '\'
		"/v1/reports/%E0%80%AE%E0%80%AE", // three-byte overlong '.'
		"/v1/reports/%F0%80%80%AE",       // four-byte overlong '.'
		"/v1/reports/%F8%80%80%80%AE",    // five-byte form (RFC 2279)
		"/v1/reports/%ED%A0%80",          // a UTF-16 surrogate (CESU-8)
		"/v1/reports/%FF",
		"/v1/reports/caf%E9",    // a lone Latin-1 byte
		"/v1/reports/%E2%82",    // cut short
		"/v1/reports/%E2%82x",   // cut short by a plain byte
		"/v1/reports/%AE",       // a continuation byte alone
		"/v1/reports/%C3%A9%C0", // good, then bad
	} {
		r := do(t, st.addr, "GET", target, key(globexKey), "")
		if r.status != 400 || r.errorBody(t).Error != "bad_request" {
			t.Errorf("GET %s: %d %s, want 400 bad_request", target, r.status, r.body)
		}
		if d := st.sink.last(t).Decision; d != audit.BadRequest {
			t.Errorf("GET %s: audited %v, want bad_request", target, d)
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d requests, first %q; want none", len(got), got[0].uri)
	}
	for target, want := range map[string]string{
		"/v1/reports/caf%c3%a9":             "/v1/reports/caf%C3%A9",
		"/v1/reports/%E2%82%AC%F0%9F%98%80": "/v1/reports/%E2%82%AC%F0%9F%98%80",
		"/v1/reports/%EF%BF%BD":             "/v1/reports/%EF%BF%BD", // U+FFFD itself
	} {
		n := len(rec.received())
		if r := do(t, st.addr, "GET", target, key(globexKey), ""); r.status != 200 {
			t.Fatalf("GET %s: %d %s, want 200", target, r.status, r.body)
		}
		if got := rec.only(t, n).uri; got != want {
			t.Errorf("GET %s reached the upstream as %q, want %q", target, got, want)
		}
	}
}
