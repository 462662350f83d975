package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// Finding (attack131): the check before the body (prebody.go) ran
// authorize right after the credential, but decide (handler.go) refuses
// some heads before it asks for the credential at all: a _method query
// parameter, an absolute-form target naming another host, a tenant
// cookie on a route binding {tenant} (400), strict audit with no record to be had
// (503 audit_unavailable). A verified caller lacking the route's scope
// whose upload carried one of those was answered 403 forbidden before its
// body (Expect, or a chunked body past preBodyFree), and 400 or 503 once
// the same request's small body was read whole: the audit trail named
// two decisions for one request.

// TestHeadRefusalBeforeAuthorizeBeforeBody sends, over a real socket,
// uploads by an API key lacking POST /v1/records' scope whose head the
// handler refuses before the credential: each is answered, with Expect
// and a declared body and with a chunked 20 KiB body, as the handler
// answers it read whole.
func TestHeadRefusalBeforeAuthorizeBeforeBody(t *testing.T) {
	admin := "X-API-Key: " + adminKey + "\r\n"
	const chunk20K = "Transfer-Encoding: chunked\r\n\r\n5000\r\n"
	body20K := strings.Repeat("a", 0x5000) + "\r\n"
	run := func(t *testing.T, addr, head string, status int, want string) {
		t.Helper()
		check := func(how string, r reply) {
			t.Helper()
			if r.status != status {
				t.Errorf("%s: %.60q: first answer %d %q, want %d", how, head, r.status, r.body, status)
				return
			}
			if e := r.errorBody(t); e.Error != want {
				t.Errorf("%s: %.60q: error %q, want %s", how, head, e.Error, want)
			}
		}
		check("a 2-byte body read whole", firstAnswer(t, addr, head+"Content-Length: 2\r\n\r\n{}", ""))
		check("Expect: 100-continue, 60000 bytes declared", firstAnswer(t, addr, head+"Expect: 100-continue\r\nContent-Length: 60000\r\n\r\n", ""))
		check("chunked, 20 KiB sent", firstAnswer(t, addr, head+chunk20K+body20K, ""))
	}
	t.Run("bad request", func(t *testing.T) {
		st, rec := startRecorded(t, nil)
		swapDoc(t, st.store, tenantUpload)
		for _, head := range []string{
			"POST /v1/tenants/acme/records HTTP/1.1\r\nHost: svc\r\nCookie: __tenant=globex\r\n" + admin,
			"POST /v1/records?_method=PUT HTTP/1.1\r\nHost: svc\r\n" + admin,
			"POST http://elsewhere/v1/records HTTP/1.1\r\nHost: svc\r\n" + admin,
		} {
			run(t, st.addr, head, 400, "bad_request")
		}
		if got := rec.received(); len(got) != 0 {
			t.Fatalf("the upstream got %d request(s), want none", len(got))
		}
	})
	t.Run("strict audit, no record", func(t *testing.T) {
		st := startStack(t, func(c *Config) { c.Audit = &refusingSink{} })
		swapDoc(t, st.store, func(d *policy.Document) { d.Audit.Mode = "strict" })
		run(t, st.addr, "POST /v1/records HTTP/1.1\r\nHost: svc\r\n"+admin, 503, "audit_unavailable")
	})
}
