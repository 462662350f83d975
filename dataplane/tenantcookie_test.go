package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// Finding (review75): on a route that binds {tenant}, a tenant parameter
// in the query or the body was refused, but a tenant cookie went on, on
// the ground that no framework reads one before the route. ABP does: its
// tenant resolvers run query string, form, route, header, then cookie,
// and its route resolver reads the route value named __tenant only, so
// on a service whose template names the segment {tenant} (the policy's
// name) the route gave ABP nothing, its __tenant header is refused for
// its '_', and the __tenant cookie chose the tenant that its data filters
// scope every query to, ahead of any resolver the service adds to read
// X-Portcullis-Tenant (added resolvers run last). ASP.NET Boilerplate
// reads its Abp.TenantId cookie (its header is refused for its '.') for
// any caller it did not authenticate itself, which behind the sidecar is
// every caller. An acme key calling GET /v1/tenants/acme/users with
// Cookie: __tenant=globex passed the binding.

// TestTenantCookieRefused sends, over a real socket, an acme key's
// requests for acme's own path carrying a cookie named as a tenant
// parameter is (tenantField) or Abp.TenantId, in any Cookie line, among
// other cookies: each is refused 400, audited bad_request, and nothing
// reaches the upstream. Other cookies, and tenant cookies on a route that
// binds nothing, go on.
func TestTenantCookieRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	get := func(target, cookies string) reply {
		t.Helper()
		return raw(t, st.addr, "GET "+target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n"+cookies+"\r\n")
	}
	const own = "/v1/tenants/acme/users"
	for _, cookies := range []string{
		"Cookie: __tenant=globex\r\n",
		"Cookie: session=abc; __tenant=globex\r\n",
		"Cookie: session=abc\r\nCookie: Tenant=globex\r\n",
		"Cookie: Abp.TenantId=2\r\n",
		"Cookie: abp.tenantid=2\r\n",
		"Cookie: __TENANT =globex\r\n",
		"Cookie: a=1,__tenant=globex\r\n",
		"Cookie: tenant=acme\r\n", // whatever its value: which would the service read?
		"Cookie: %5F%5Ftenant=globex\r\n",
		"Cookie: Abp%2ETenantId=2\r\n", // ASP.NET Core 2 unescapes a cookie's name, as it does __tenant's
		"Cookie: %41bp.TenantId=2\r\n",
		"Cookie: a=b __tenant=globex\r\n", // ASP.NET Core retries a failed pair from each next byte (read108)
		"Cookie: @Abp.TenantId=2\r\n",     // so a name after any byte outside a token is read
		"Cookie: a=b\"tenant=globex\r\n",
	} {
		n := len(rec.received())
		r := get(own, cookies)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("GET %s with %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded", own, cookies, r.status, len(got))
			continue
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
			t.Errorf("GET %s with %q: audited %v, want bad_request", own, cookies, rr.Decision)
		}
	}
	for _, c := range []struct{ target, cookies string }{
		{own, "Cookie: session=__tenant; tenant_id=globex; tenants=x; x=tenant\r\n"},
		{own, "Cookie: back=/v1/tenants/globex/users?__tenant=globex&tenant=globex\r\n"}, // in a value ASP.NET Core reads whole (review111)
		{"/v1/users", "Cookie: __tenant=globex; Abp.TenantId=2\r\n"},                     // binds nothing
	} {
		n := len(rec.received())
		r := get(c.target, c.cookies)
		if got := rec.received()[n:]; r.status != 200 || len(got) != 1 || len(got[0].values("cookie")) == 0 {
			t.Errorf("GET %s with %q as acme-hris: %d %s, the upstream got %d request(s); want 200 and the cookies forwarded", c.target, c.cookies, r.status, r.body, len(got))
		}
	}
}

// TestTenantCookieReachesWaitingRequests: a request that waited, in its
// class's queue or for an upstream connection, while a push made its
// route bind {tenant}, is refused for a tenant cookie it carries, as on
// arrival (recheck.go).
func TestTenantCookieReachesWaitingRequests(t *testing.T) {
	for _, pool := range []bool{false, true} {
		t.Run(map[bool]string{false: "queue", true: "pool"}[pool], func(t *testing.T) {
			w := newWaitScene(t, pool) // recheck_test.go
			swapDoc(t, w.st.store, tenantExports(pool, "{org}"))
			w.hold(t, func() reply { return do(t, w.st.addr, "POST", "/v1/tenants/acme/exports", key(adminKey), "") })
			w.wait(t, func() reply {
				return do(t, w.st.addr, "POST", "/v1/tenants/acme/exports", map[string]string{"X-API-Key": adminKey, "Cookie": "__tenant=globex"}, "")
			})
			swapDoc(t, w.st.store, tenantExports(pool, "{tenant}"))
			first, second := w.finish(t)
			if first.status != 200 || second.status != 400 || second.errorBody(t).Error != "bad_request" || len(w.arrived) != 0 {
				t.Fatalf("a waiting POST /v1/tenants/acme/exports with Cookie: __tenant=globex after its route came to bind {tenant}: answers %d and %d %q, %d more request(s) reached the upstream; want 200, then 400 bad_request and none",
					first.status, second.status, second.body, len(w.arrived))
			}
		})
	}
}

// Finding (dup805): the tenant cookie's walk of a Cookie line
// (tenantCookie) was written again beside the one for refuse_cookies and
// tenant_cookies names (cookieNamed) and dropped only spaces and tabs
// around a name, where the other drops what servers drop (cookieBlank):
// Express's cookie 0.x trims a name as JavaScript trims (\v, \f, U+00A0
// decoded from Latin-1), Django's parse_cookie as Python strips (0x1C to
// 0x1F, 0x85 too), so "tenant\xa0=globex" was a tenant cookie to them
// and went on to the service.

// TestTenantCookieBlanksRefused sends, over a real socket to a real
// upstream, an acme key's requests for acme's own path with a tenant
// cookie whose name has a blank cookieBlank drops around it: each is
// refused 400 and nothing reaches the upstream.
func TestTenantCookieBlanksRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	const own = "/v1/tenants/acme/users"
	for _, cookies := range []string{ // a blank before the name is read as one (innerNames)
		"Cookie: a=1;tenant\xa0=globex\r\n",
		"Cookie:tenant\xa0=globex\r\n",
		"Cookie: a=1;__tenant\x85=globex\r\n",
		"Cookie: a=1,Tenant\x1c=globex\r\n",
		"Cookie: a=1;tenant\v=globex\r\n",
		"Cookie: a=1;tenant\f=globex\r\n",
	} {
		n := len(rec.received())
		r := raw(t, st.addr, "GET "+own+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n"+cookies+"\r\n")
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("GET %s with %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded", own, cookies, r.status, len(got))
		}
	}
	n := len(rec.received())
	if r := raw(t, st.addr, "GET "+own+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\nCookie: a=1;x\xa0=1\r\n\r\n"); r.status != 200 || len(rec.received()) != n+1 {
		t.Errorf("GET %s with a cookie x\\xa0 as acme-hris: %d %s; want 200 and the request forwarded", own, r.status, r.body)
	}
}
