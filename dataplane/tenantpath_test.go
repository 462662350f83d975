package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// Finding (review43): the sidecar never checked the tenant a request's
// path names against its caller's. A tenant-acme key with read:users
// called GET /v1/tenants/globex/users, the route
// /v1/tenants/{tenant}/users matched, and a service that takes the tenant
// from its path (most multi-tenant services do) answered with globex's
// users. A route template's {tenant} segment now binds the request's
// segment there, after normalisation, to the caller's tenant id, byte for
// byte: any other is refused 403 tenant_mismatch, before the service.

// tenantRoutes adds two routes whose paths name the tenant to the
// example policy, and lifts its clients' limits for tests of many
// requests.
func tenantRoutes(d *policy.Document) {
	for i := range d.Clients {
		d.Clients[i].Limit = &policy.LimitSpec{Rate: "1000/s", Burst: 1000}
	}
	d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
		policy.RouteSpec{Method: "GET", Path: "/v1/tenants/{tenant}/users", Class: "standard", Scopes: []string{"read:users"}},
		policy.RouteSpec{Method: "GET", Path: "/v1/tenants/{tenant}/reports/{id}", Class: "standard", Scopes: []string{"read:reports"}},
	)
}

// TestTenantPathBound holds, over a real sidecar in front of a real
// upstream, that a caller reaches its own tenant's paths, under an API
// key or an access token, and never another's: not by its id, nor by an
// escaped, upper-case, dotted or padded spelling of it, nor through a
// dot segment, a doubled slash or an absolute-form target. Each refusal
// is a 403 tenant_mismatch in the sidecar's error shape, audited with
// the caller's tenant and the route, and never reaches the upstream.
func TestTenantPathBound(t *testing.T) {
	st := startStack(t, nil)
	swapDoc(t, st.store, tenantRoutes)
	acmeJWT := bearer(mint(t, demoClaims("acme-hris", "acme", "read:users")))
	globexJWT := bearer(mint(t, demoClaims("globex-bi", "globex", "read:reports")))

	type caller struct {
		name, tenant, client string
		cred                 map[string]string
	}
	hris := caller{"acme-hris (api key)", "acme", "acme-hris", key(hrisKey)}
	hrisJWT := caller{"acme-hris (jwt)", "acme", "acme-hris", acmeJWT}
	bi := caller{"globex-bi (api key)", "globex", "globex-bi", key(globexKey)}
	biJWT := caller{"globex-bi (jwt)", "globex", "globex-bi", globexJWT}

	// Their own tenant: served, under the path the sidecar normalised
	// (an escaped unreserved letter is the letter itself, RFC 3986 2.3).
	own := []struct {
		who            caller
		target, upPath string
	}{
		{hris, "/v1/tenants/acme/users", "/v1/tenants/acme/users"},
		{hris, "/v1/tenants/%61cme/users", "/v1/tenants/acme/users"},
		{hris, "/v1/tenants/globex/../acme/users", "/v1/tenants/acme/users"},
		{hrisJWT, "/v1/tenants/acme/users", "/v1/tenants/acme/users"},
		{bi, "/v1/tenants/globex/reports/7", "/v1/tenants/globex/reports/7"},
		{biJWT, "/v1/tenants/%67lobex/reports/7", "/v1/tenants/globex/reports/7"},
	}
	for _, tc := range own {
		n := len(st.up.received())
		r := do(t, st.addr, "GET", tc.target, tc.who.cred, "")
		got := st.up.received()[n:]
		if r.status != 200 || len(got) != 1 || got[0].uri != tc.upPath || got[0].headers["x-portcullis-tenant"] != tc.who.tenant {
			t.Errorf("GET %s as %s, its own tenant: %d %q, the upstream got %d request(s); want 200 and %s for tenant %s",
				tc.target, tc.who.name, r.status, r.body, len(got), tc.upPath, tc.who.tenant)
		}
	}

	// Another tenant's, in every spelling the normaliser could be asked
	// to turn into the caller's own or that a service might read as the
	// other's; and the caller's own id in a spelling that is not it.
	other := []struct {
		who    caller
		target string
	}{
		{hris, "/v1/tenants/globex/users"},
		{hrisJWT, "/v1/tenants/globex/users"},
		{hris, "/v1/tenants/%67lobex/users"},
		{hris, "/v1/tenants/%67%6C%6F%62%65%78/users"},
		{hris, "/v1/tenants/GLOBEX/users"},
		{hris, "/v1/tenants/Globex/users"},
		{hris, "/v1/tenants/%47lobex/users"},
		{hris, "/v1/tenants/globex./users"},
		{hris, "/v1/tenants/globex%2E/users"},
		{hris, "/v1/tenants/globex%20/users"},
		{hris, "/v1/tenants/%20globex/users"},
		{hris, "/v1/tenants/globex%09/users"},
		{hris, "/v1/tenants/acme/../globex/users"},
		{hris, "/v1/tenants/acme/%2E%2E/globex/users"},
		{hris, "/v1/tenants/./globex/users"},
		{hris, "//v1//tenants//globex//users"},
		{hris, "http://svc/v1/tenants/globex/users"},
		{hris, "/v1/tenants/globex/users?tenant=acme"},
		{hris, "/v1/tenants/ACME/users"},
		{hris, "/v1/tenants/%41CME/users"},
		{hris, "/v1/tenants/acme%00/users"},
		{hris, "/v1/tenants/acme%2Fx/users"},
		{hris, "/v1/tenants/%D0%B0cme/users"}, // Cyrillic а
		{hrisJWT, "/v1/tenants/Acme/users"},
		{bi, "/v1/tenants/acme/reports/7"},
		{biJWT, "/v1/tenants/acme/reports/7"},
		{biJWT, "/v1/tenants/%61cme/reports/7"},
	}
	for _, tc := range other {
		n := len(st.up.received())
		r := do(t, st.addr, "GET", tc.target, tc.who.cred, "")
		got := st.up.received()[n:]
		if r.status == 200 || len(got) != 0 {
			var uris []string
			for _, g := range got {
				uris = append(uris, g.uri)
			}
			t.Errorf("GET %s as %s, of tenant %s: %d %q, the upstream got %q; want 403 tenant_mismatch and nothing forwarded",
				tc.target, tc.who.name, tc.who.tenant, r.status, r.body, uris)
			continue
		}
		if r.status == 400 || r.status == 404 {
			continue // the normaliser or the router refused it first: fine
		}
		e := r.errorBody(t)
		rec := st.sink.withRequestID(t, e.RequestID)
		if r.status != 403 || e.Error != "tenant_mismatch" || rec.Decision.String() != "tenant_mismatch" ||
			rec.Tenant != tc.who.tenant || rec.Client != tc.who.client || rec.Status != 403 ||
			(rec.Route != "/v1/tenants/{tenant}/users" && rec.Route != "/v1/tenants/{tenant}/reports/{id}") {
			t.Errorf("GET %s as %s: %d %q, audited %s %d tenant %q client %q route %q; want 403 tenant_mismatch, audited so for tenant %s client %s on its route",
				tc.target, tc.who.name, r.status, e.Error, rec.Decision, rec.Status, rec.Tenant, rec.Client, rec.Route, tc.who.tenant, tc.who.client)
		}
	}

	// The binding is checked before the scopes: a caller probing
	// another tenant's path is audited as such even where it also lacks
	// the route's scope.
	r := do(t, st.addr, "GET", "/v1/tenants/acme/users", key(globexKey), "")
	if r.status != 403 || r.errorBody(t).Error != "tenant_mismatch" {
		t.Errorf("GET /v1/tenants/acme/users as globex-bi, which lacks read:users: %d %s; want 403 tenant_mismatch", r.status, r.body)
	}

	// Counted under its decision, by class and by tenant.
	page := scrape(t, st.srv)
	for _, want := range []string{`portcullis_requests_total{class="standard",decision="tenant_mismatch"}`, `portcullis_tenant_requests_total{tenant="acme",decision="tenant_mismatch"}`} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// TestTenantBindingReachesQueuedRequests: a request that waited in its
// class's concurrency queue is decided again on the tables in force
// (recheck.go); a push that moved its client to another tenant meanwhile
// leaves the path naming the old one, and the request is refused 403
// tenant_mismatch rather than forwarded on its arrival's decision.
func TestTenantBindingReachesQueuedRequests(t *testing.T) {
	w := newWaitScene(t, false) // recheck_test.go
	bulk := func(d *policy.Document) {
		d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
			policy.RouteSpec{Method: "POST", Path: "/v1/tenants/{tenant}/exports", Class: "bulk", Scopes: []string{"export:data"}})
		exportWait(false)(d)
	}
	swapDoc(t, w.st.store, bulk)
	export := func() reply { return do(t, w.st.addr, "POST", "/v1/tenants/acme/exports", key(adminKey), "") }
	w.hold(t, export)
	w.wait(t, export)
	swapDoc(t, w.st.store, func(d *policy.Document) {
		bulk(d)
		for i := range d.Clients {
			if d.Clients[i].ID == "acme-admin" {
				d.Clients[i].Tenant = "globex"
			}
		}
	})
	first, second := w.finish(t)
	if first.status != 200 || second.status != 403 || second.errorBody(t).Error != "tenant_mismatch" || len(w.arrived) != 0 {
		t.Fatalf("the queued export of /v1/tenants/acme/exports after its client moved to globex: answers %d and %d %q, %d more request(s) reached the upstream; want 200, then 403 tenant_mismatch and none",
			first.status, second.status, second.body, len(w.arrived))
	}
}
