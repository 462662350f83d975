package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// Finding (review88): only the six built-in tenant header names were held
// to the caller's tenant; a service reading its tenant from another
// (X-Org-Id, X-Workspace-Id, ...) was served the client's word, and the
// policy had no way to name it. tenant_headers names them now, held to
// the same rule.

// namedTenantRoutes is tenantParamRoutes with tenant_headers naming
// X-Org-Id and X-Workspace-Id.
func namedTenantRoutes(d *policy.Document) {
	tenantParamRoutes(d)
	d.TenantHeaders = []string{"X-Org-Id", "x-workspace-id"}
}

// TestNamedTenantHeaderRefused sends, over a real socket, requests
// carrying a header the policy's tenant_headers names: one naming
// another tenant (in any case of the name), the caller's own in another
// spelling, twice, beside a built-in tenant header, or any on a public
// route is refused 400, audited bad_request, and nothing reaches the
// upstream. The caller's own, once, goes on; a name the policy does not
// list goes on as before.
func TestNamedTenantHeaderRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, namedTenantRoutes)
	const acme = "X-API-Key: " + hrisKey + "\r\n"
	for _, c := range []struct{ target, headers string }{
		{"/v1/users", acme + "X-Org-Id: globex\r\n"},
		{"/v1/users", acme + "x-org-id: globex\r\n"},
		{"/v1/users", acme + "X-WORKSPACE-ID: globex\r\n"},
		{"/v1/users", acme + "X-Org-Id: ACME\r\n"},
		{"/v1/users", acme + "X-Org-Id: acme, globex\r\n"},
		{"/v1/users", acme + "X-Org-Id: acme\r\nX-Org-Id: acme\r\n"},
		{"/v1/users", acme + "X-Org-Id: acme\r\nX-Workspace-Id: acme\r\n"},
		{"/v1/users", acme + "X-Tenant: acme\r\nX-Org-Id: acme\r\n"},
		{"/v1/users", acme + "X-Org-Id:\r\n"},
		{"/v1/tenants/acme/users", acme + "X-Workspace-Id: globex\r\n"},
		{"/v1/status", "X-Org-Id: globex\r\n"},
	} {
		getHeaderRefused(t, st, rec, c.target, c.headers)
	}
	for _, c := range []struct{ target, headers, name string }{
		{"/v1/users", acme + "X-Org-Id:  acme \r\n", "x-org-id"},
		{"/v1/tenants/globex/reports/1", "X-API-Key: " + globexKey + "\r\nx-workspace-id: globex\r\n", "x-workspace-id"},
		{"/v1/users", acme + "X-Org: globex\r\n", "x-org"}, // not listed: the policy does not say the service reads it
	} {
		getHeaderForwarded(t, st, rec, c.target, c.headers, c.name)
	}
}

// TestNamedTenantHeaderReachesWaitingRequests: a request that waited (in
// its class's queue, or for an upstream connection) while a push added
// the header it carries to tenant_headers is decided again on the new
// tables, and refused when the header names another tenant.
func TestNamedTenantHeaderReachesWaitingRequests(t *testing.T) {
	for _, pool := range []bool{false, true} {
		t.Run(map[bool]string{false: "queue", true: "pool"}[pool], func(t *testing.T) {
			w := newWaitScene(t, pool) // recheck_test.go
			w.hold(t, w.export(t, key(adminKey)))
			w.wait(t, w.export(t, map[string]string{"X-API-Key": adminKey, "X-Org-Id": "globex"}))
			swapDoc(t, w.st.store, func(d *policy.Document) {
				exportWait(pool)(d)
				d.TenantHeaders = []string{"X-Org-Id"}
			})
			first, second := w.finish(t)
			if first.status != 200 || second.status != 400 || second.errorBody(t).Error != "bad_request" || len(w.arrived) != 0 {
				t.Fatalf("a waiting export with X-Org-Id: globex after a push named X-Org-Id a tenant header: answers %d and %d %q, %d more request(s) reached the upstream; want 200, then 400 bad_request and none",
					first.status, second.status, second.body, len(w.arrived))
			}
		})
	}
}
