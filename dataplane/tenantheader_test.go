package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// Finding (review79): a header that multi-tenant frameworks pick the
// tenant from went on to the service as the client's word, on every
// route: stancl/tenancy (Laravel) reads X-Tenant, Spring and NestJS
// services X-TenantID or X-Tenant-Id. An acme key holder calling
// GET /v1/users with X-Tenant: globex was served globex's users by such a
// service. A tenant header must now name the verified caller's tenant,
// once; a public route has no caller, so none passes there.

// TestTenantHeaderRefused sends, over a real socket, requests carrying a
// tenant header: one naming another tenant (in any of the names, any
// case, with blanks, as a list), the caller's own twice or in another
// spelling, or any tenant on a public route is refused 400, JSON,
// audited bad_request, and nothing reaches the upstream. The caller's
// own tenant, once, goes on with the header.
func TestTenantHeaderRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	const acme = "X-API-Key: " + hrisKey + "\r\n"
	for _, c := range []struct{ target, headers string }{
		{"/v1/users", acme + "X-Tenant: globex\r\n"},
		{"/v1/users", acme + "x-tenant-id: globex\r\n"},
		{"/v1/users", acme + "X-TenantID: globex\r\n"},
		{"/v1/users", acme + "X-TENANTID: globex\r\n"},
		{"/v1/users", acme + "Tenant: globex\r\n"},
		{"/v1/users", acme + "TenantId: globex\r\n"},
		{"/v1/users", acme + "Tenant-Id: globex\r\n"},
		{"/v1/users", acme + "X-Tenant: ACME\r\n"},         // a case-blind lookup finds acme, but which tenant is it?
		{"/v1/users", acme + "X-Tenant: acme, globex\r\n"}, // a list
		{"/v1/users", acme + "X-Tenant: acme\r\nX-Tenant: globex\r\n"},
		{"/v1/users", acme + "X-Tenant: acme\r\nX-Tenant-Id: acme\r\n"}, // twice: which would the service read?
		{"/v1/users", acme + "X-Tenant:\r\n"},
		{"/v1/users", acme + "X-Tenant: acme\r\n globex\r\n"}, // obs-fold
		{"/v1/tenants/acme/users", acme + "X-Tenant-Id: globex\r\n"},
		{"/v1/status", "X-Tenant: globex\r\n"}, // public: no caller, no tenant to name
		{"/v1/status", acme + "X-Tenant: acme\r\n"},
	} {
		getHeaderRefused(t, st, rec, c.target, c.headers)
	}
	for _, c := range []struct{ target, headers, name string }{
		{"/v1/users", acme + "X-Tenant:  acme \r\n", "x-tenant"},
		{"/v1/tenants/acme/users", acme + "X-Tenant-Id: acme\r\n", "x-tenant-id"},
		{"/v1/tenants/globex/reports/1", "X-API-Key: " + globexKey + "\r\nX-TenantId: globex\r\n", "x-tenantid"},
		{"/v1/users", acme + "X-Tenant-Region: globex\r\n", "x-tenant-region"}, // names no tenant
	} {
		getHeaderForwarded(t, st, rec, c.target, c.headers, c.name)
	}
}

// getHeaderRefused sends, over a real socket to st, a GET of target with
// the header lines headers, and checks that it is refused 400
// bad_request, audited so, and that nothing reaches rec: the rig of the
// tenant header tests.
func getHeaderRefused(t *testing.T, st *stack, rec *recorder, target, headers string) {
	t.Helper()
	n := len(rec.received())
	r := raw(t, st.addr, "GET "+target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n"+headers+"\r\n")
	if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
		t.Errorf("GET %s with %q: %d, the upstream got %d request(s); want 400 and nothing forwarded", target, headers, r.status, len(got))
		return
	}
	if e := r.errorBody(t); e.Error != "bad_request" {
		t.Errorf("GET %s with %q: error %q, want bad_request", target, headers, e.Error)
	}
	if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
		t.Errorf("GET %s with %q: audited %v, want bad_request", target, headers, rr.Decision)
	}
}

// getHeaderForwarded sends a GET as getHeaderRefused does, and checks
// that it is answered 200 and reaches rec with one header name.
func getHeaderForwarded(t *testing.T, st *stack, rec *recorder, target, headers, name string) {
	t.Helper()
	n := len(rec.received())
	r := raw(t, st.addr, "GET "+target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n"+headers+"\r\n")
	if got := rec.received()[n:]; r.status != 200 || len(got) != 1 || len(got[0].values(name)) != 1 {
		t.Errorf("GET %s with %q: %d %s, the upstream got %d request(s); want 200 and the header forwarded", target, headers, r.status, r.body, len(got))
	}
}
