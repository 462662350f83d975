package dataplane

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// Finding (review75): tenant ids may hold '.', and the binding compares
// the path's segment with the caller's id byte for byte, which a tenant
// named acme.eu passes on /v1/tenants/acme.eu. Rails routes such a path
// to /v1/tenants/:tenant(.:format) with tenant "acme" and format "eu" (a
// dynamic segment stops at '.'), and Spring MVC's suffix pattern match
// (the default before 5.3) reads the tenant up to the last '.': the
// service served acme's tenant to acme.eu's key. A tenant id that is
// another tenant's id followed by '.' and more is now a policy error.

// TestTenantIDDotPrefixRefused loads the example policy with a tenant
// acme.eu beside acme and a route ending in {tenant}: the document is
// refused, naming both. Before, it loaded, and acme.eu's key was served
// /v1/tenants/acme.eu, which such a service reads as acme's, over a
// real socket.
func TestTenantIDDotPrefixRefused(t *testing.T) {
	data, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(data), "tenants:\n", "tenants:\n  - {id: acme.eu, name: Acme Europe}\n", 1)
	src = strings.Replace(src, "routes:\n", "routes:\n  - {method: GET, path: \"/v1/tenants/{tenant}\", class: standard, scopes: [read:users]}\n", 1)
	src = strings.Replace(src, "clients:\n", "clients:\n  - {id: acme-eu-hris, tenant: acme.eu, owner: hr@acme.example, scopes: [read:users]}\n", 1)
	doc, err := policy.Load("policy.yaml", []byte(src))
	if err != nil {
		if !strings.Contains(err.Error(), `"acme.eu"`) || !strings.Contains(err.Error(), `"acme"`) {
			t.Errorf("the policy was refused with %q; want the problem to name tenants acme.eu and acme", err)
		}
		return
	}
	st, rec := startRecorded(t, nil)
	k, spec := mustKey(t, "acme-eu-hris", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	swapWithKeys(t, st.store, doc, spec)
	n := len(rec.received())
	r := raw(t, st.addr, "GET /v1/tenants/acme.eu HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+k+"\r\nConnection: close\r\n\r\n")
	if got := rec.received()[n:]; r.status == 200 && len(got) == 1 {
		t.Errorf("a policy with tenants acme.eu and acme loaded, and acme.eu's key was served %s, which Rails and Spring's suffix match read as tenant acme; want the policy refused",
			got[0].uri)
	}
}
