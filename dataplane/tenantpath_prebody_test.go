package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (review97): the check before the body (prebody.go) verified the
// credential and the tenant header, not the tenant a route's {tenant}
// segment names. An acme key's upload to globex's path had its body read,
// up to its class's limit, and an Expect: 100-continue got its 100, before
// the 403 tenant_mismatch. The path's tenant is now checked there too.

// tenantUpload adds a route that binds {tenant} and takes a body of up to
// the standard class's 1 MiB.
func tenantUpload(d *policy.Document) {
	d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
		policy.RouteSpec{Method: "POST", Path: "/v1/tenants/{tenant}/records", Class: "standard", Scopes: []string{"write:records"}})
}

// TestTenantPathRefusedBeforeBody sends, over a real socket, an acme key's
// uploads to globex's /v1/tenants/{tenant}/records: with Expect:
// 100-continue the first answer is the 403, not 100; with a declared body
// of 1 MB only the head is sent and the 403 comes; a chunked body gets its
// 403 after at most preBodyFree of it. Each is 403 tenant_mismatch in the
// error shape, audited so, and nothing reaches the upstream. The caller's
// own tenant still gets 100 and is served.
func TestTenantPathRefusedBeforeBody(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantUpload)
	head := func(tenant string) string {
		return "POST /v1/tenants/" + tenant + "/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	}
	for _, c := range []struct{ name, request string }{
		{"Expect: 100-continue", head("globex") + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"},
		{"Expect: 100-continue, 1 MB", head("globex") + "Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n"},
		{"1 MB declared, head only", head("globex") + "Content-Length: 1000000\r\n\r\n"},
		{"chunked, 20 KiB sent", head("globex") + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
	} {
		n := len(rec.received())
		r := firstAnswer(t, st.addr, c.request, "")
		if got := rec.received()[n:]; r.status != 403 || len(got) != 0 {
			t.Errorf("%s: first answer %d %q, the upstream got %d request(s); want 403 before the body, nothing forwarded", c.name, r.status, r.body, len(got))
			continue
		}
		if e := r.errorBody(t); e.Error != "tenant_mismatch" {
			t.Errorf("%s: error %q, want tenant_mismatch", c.name, e.Error)
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.TenantMismatch {
			t.Errorf("%s: audited %v, want tenant_mismatch", c.name, rr.Decision)
		}
	}
	// Read whole (a small declared body, which the handler decides), the
	// same request is refused the same way.
	if r := firstAnswer(t, st.addr, head("globex")+"Content-Length: 2\r\n\r\n{}", ""); r.status != 403 {
		t.Errorf("a small body to globex's path: %d %q, want 403", r.status, r.body)
	}
	if r := firstAnswer(t, st.addr, head("acme")+"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", "{}"); r.status != 200 {
		t.Errorf("the caller's own tenant with Expect: 100-continue: %d %q, want 100 then 200", r.status, r.body)
	}
}
