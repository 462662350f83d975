package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (prebody130): the check before the body (prebody.go) verified
// the credential and the tenant its path and a tenant header name, not
// the rest of authorize: the route's scopes and a privileged class's
// allow_cidrs, auth_methods and max_token_age, nor a route's approval.
// A verified caller's upload the handler refuses for one of those got
// its 100 Continue and had its body read, up to the class's limit,
// before the 403 (or 401 token_too_old). They are now checked there too,
// in the handler's order, answered as the handler answers them.

// authorizeUploads is the example policy with the privileged class
// taking client certificates only (mtlsPolicy) and a privileged class
// whose credentials must be under an hour old, with a route to it.
func authorizeUploads(d *policy.Document) {
	mtlsPolicy(d)
	d.Classes = append(d.Classes, policy.ClassSpec{Name: "recent", Kind: "privileged", MaxBody: "64KiB", MaxTokenAge: "1h"})
	d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
		policy.RouteSpec{Method: "POST", Path: "/v1/admin/recent", Class: "recent", Scopes: []string{"admin:settings"}})
}

// TestScopeAndClassRulesRefusedBeforeBody sends, over a real socket,
// uploads by verified callers that authorize (or the approval check
// after it) refuses: an API key and a JWT lacking the route's scope, an
// API key on a class taking client certificates only, from outside a
// class's allow_cidrs, older than a class's max_token_age, and without
// the approval its route requires. With Expect: 100-continue and a
// declared body the first answer is the refusal, not 100; a chunked body
// gets it after at most preBodyFree of it, not 413 (nor a wait for the
// rest of it); each is in the error shape and audited with the decision
// the handler gives the same request once its small body is read.
// Nothing reaches the upstream; a caller the rules admit still gets 100.
func TestScopeAndClassRulesRefusedBeforeBody(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, authorizeUploads)
	hrisReader := "Authorization: Bearer " + mint(t, demoClaims("acme-hris", "acme", "read:users")) + "\r\n"
	admin := "X-API-Key: " + adminKey + "\r\n"
	const chunk20K = "Transfer-Encoding: chunked\r\n\r\n5000\r\n"
	body20K := strings.Repeat("a", 0x5000) + "\r\n"
	cases := []struct {
		name, line, cred string
		status           int
		d                audit.Decision
	}{
		{"API key lacking the scope", "POST /v1/records", admin, 403, audit.Forbidden},
		{"JWT lacking the scope", "POST /v1/records", hrisReader, 403, audit.Forbidden},
		{"API key on a class taking mtls only", "PUT /v1/admin/settings", admin, 403, audit.MethodDenied},
		{"outside the class's allow_cidrs", "POST /v1/integrations", admin, 403, audit.NetworkDenied},
		{"older than the class's max_token_age", "POST /v1/admin/recent", admin, 401, audit.TokenTooOld},
		{"no approval", "POST /v1/exports/full", admin, 403, audit.ApprovalRequired},
	}
	t.Run("refused", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				head := c.line + " HTTP/1.1\r\nHost: svc\r\n" + c.cred
				check := func(how string, r reply) audit.Decision {
					t.Helper()
					if r.status != c.status {
						t.Errorf("%s: first answer %d %q, want %d", how, r.status, r.body, c.status)
						return audit.Allowed // none: the answer was wrong
					}
					if e := r.errorBody(t); e.Error != c.d.String() {
						t.Errorf("%s: error %q, want %s", how, e.Error, c.d)
					}
					if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s: 401 without WWW-Authenticate", how)
					}
					return st.sink.withRequestID(t, r.header.Get("X-Request-Id")).Decision
				}
				// Read whole (a small declared body, which the handler
				// decides): the decision the refusals before the body
				// must be audited with.
				want := check("a 2-byte body read whole", firstAnswer(t, st.addr, head+"Content-Length: 2\r\n\r\n{}", ""))
				if want != c.d {
					t.Fatalf("the handler audited %v, want %v", want, c.d)
				}
				if got := check("Expect: 100-continue, 60000 bytes declared", firstAnswer(t, st.addr, head+"Expect: 100-continue\r\nContent-Length: 60000\r\n\r\n", "")); got != want && got != audit.Allowed {
					t.Errorf("Expect: 100-continue: audited %v, the handler %v", got, want)
				}
				if got := check("chunked, 20 KiB sent", firstAnswer(t, st.addr, head+chunk20K+body20K, "")); got != want && got != audit.Allowed {
					t.Errorf("chunked, 20 KiB sent: audited %v, the handler %v", got, want)
				}
			})
		}
	})
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
	hrisWriter := "Authorization: Bearer " + mint(t, demoClaims("acme-hris", "acme", "write:records")) + "\r\n"
	for _, line := range []string{
		"POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n",
		"POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + hrisWriter,
		"POST /v1/exports HTTP/1.1\r\nHost: svc\r\n" + admin,
	} {
		if r := firstAnswer(t, st.addr, line+"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", "{}"); r.status != 200 {
			t.Errorf("%.60q with Expect: 100-continue: %d %q, want 100 then 200", line, r.status, r.body)
		}
	}
}
