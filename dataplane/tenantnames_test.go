package dataplane

import (
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (attack807, req804): on a route binding {tenant}, a parameter
// or cookie of another name a service reads its tenant from (?tenant_id=,
// ?tenantId=, ?org=, a cookie org_id) went on as the client wrote it: an
// acme key calling GET /v1/tenants/acme/users?tenant_id=globex reached a
// service reading tenant_id with globex named. The policy had no way to
// name them. tenant_params and tenant_cookies name them now, refused on
// such a route as the tenant parameter and cookie are.

// tenantNamesRoutes is tenantParamRoutes with tenant_params naming
// tenant_id, TenantId and org, and tenant_cookies org_id.
func tenantNamesRoutes(d *policy.Document) {
	tenantParamRoutes(d)
	d.TenantParams = []string{"tenant_id", "TenantId", "org"}
	d.TenantCookies = []string{"org_id"}
}

// TestTenantNamesRefused sends, over a real socket to a real upstream,
// an acme key's requests for acme's own paths carrying a parameter
// tenant_params names, in the query or a form body, or a cookie
// tenant_cookies names, in spellings common servers read as those names:
// each is refused 400 bad_request, audited so, whatever the value, and
// nothing reaches the upstream. The same names on a route that binds
// nothing, and other names, go on.
func TestTenantNamesRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantNamesRoutes)
	send := func(method, target, headers, body string) reply {
		t.Helper()
		h := method + " " + target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n" + headers
		if body != "" {
			h += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		return raw(t, st.addr, h+"\r\n"+body)
	}
	const (
		form = "Content-Type: application/x-www-form-urlencoded\r\n"
		own  = "/v1/tenants/acme/users"
		post = "/v1/tenants/acme/records"
	)
	for _, c := range []struct{ method, target, headers, body string }{
		{"GET", own + "?tenant_id=globex", "", ""},
		{"GET", own + "?a=1&TENANT_ID=globex", "", ""},
		{"GET", own + "?tenant.id=globex", "", ""}, // PHP reads it as tenant_id
		{"GET", own + "?tenant%5Fid=globex", "", ""},
		{"GET", own + "?tenant_id[]=globex", "", ""},
		{"GET", own + "?tenantId=globex", "", ""},
		{"GET", own + "?tenantid=globex", "", ""},
		{"GET", own + "?org=globex", "", ""},
		{"GET", own + "?a=1;org", "", ""},
		{"GET", own + "?org=acme", "", ""}, // whatever its value: which would the service read?
		{"GET", "/v1/tenants/acme/reports/7?org=globex", "", ""},
		{"POST", post, form, "a=1&tenant_id=globex"},
		{"POST", post, "", "org=globex"}, // no Content-Type: Rack reads a form
		{"POST", post, "Content-Type: application/json\r\n", `{"a":1,"Tenant_Id":"globex"}`},
		{"POST", post, "Content-Type: application/json; charset=utf-8\r\n", `{"\u006frg":"acme"}`},
		{"GET", own, "Cookie: org_id=globex\r\n", ""},
		{"GET", own, "Cookie: a=1; ORG_ID=globex\r\n", ""},
		{"GET", own, "Cookie: a=1\r\nCookie: org%5Fid=globex\r\n", ""},
	} {
		n := len(rec.received())
		r := send(c.method, c.target, c.headers, c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s %s %q %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				c.method, c.target, c.headers, c.body, r.status, len(got))
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("%s %s %q %q: error %q, want bad_request", c.method, c.target, c.headers, c.body, e.Error)
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
			t.Errorf("%s %s %q %q: audited %q, want bad_request", c.method, c.target, c.headers, c.body, rr.Decision)
		}
	}
	for _, c := range []struct{ method, target, headers, body string }{
		{"GET", own + "?tenant_idx=globex&organization=globex&x=org", "", ""},
		{"GET", own, "Cookie: org=globex; tenant_id=globex\r\n", ""},                      // parameters' names, not tenant_cookies'
		{"GET", "/v1/users?tenant_id=globex&org=globex", "Cookie: org_id=globex\r\n", ""}, // no {tenant} in its route
		{"POST", post, form, "a=org&b=1"},
		{"POST", post, "Content-Type: application/json\r\n", `{"a":{"organization":"globex"},"b":"org","tenant_idx":1}`},
		{"POST", post, "Content-Type: text/plain\r\n", "org=globex"},
	} {
		n := len(rec.received())
		r := send(c.method, c.target, c.headers, c.body)
		if got := rec.received()[n:]; r.status != 200 || len(got) != 1 || string(got[0].body) != c.body {
			t.Errorf("%s %s %q %q as acme-hris: %d %s, the upstream got %d request(s); want 200 and the request forwarded",
				c.method, c.target, c.headers, c.body, r.status, r.body, len(got))
		}
	}
}

// TestTenantNamesReachWaitingRequests: a request that waited, in its
// class's queue or for an upstream connection, is decided again on the
// tables in force (recheck.go); a push that named tenant_params and
// tenant_cookies meanwhile refuses a parameter or cookie of those names
// it carries on a route binding {tenant}, as on arrival.
func TestTenantNamesReachWaitingRequests(t *testing.T) {
	for _, pool := range []bool{false, true} {
		for _, c := range []struct{ target, cookie string }{
			{"/v1//tenants/acme/exports?tenant_id=globex", ""},
			{"/v1/tenants/acme/exports", "org_id=globex"},
		} {
			name := map[bool]string{false: "queue", true: "pool"}[pool] + map[bool]string{false: "-param", true: "-cookie"}[c.cookie != ""]
			t.Run(name, func(t *testing.T) {
				w := newWaitScene(t, pool) // recheck_test.go
				route := func(names bool) func(d *policy.Document) {
					return func(d *policy.Document) {
						d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
							policy.RouteSpec{Method: "POST", Path: "/v1/tenants/{tenant}/exports", Class: "bulk", Scopes: []string{"export:data"}})
						if names {
							d.TenantParams, d.TenantCookies = []string{"tenant_id"}, []string{"org_id"}
						}
						exportWait(pool)(d)
					}
				}
				swapDoc(t, w.st.store, route(false))
				w.hold(t, func() reply { return do(t, w.st.addr, "POST", "/v1/tenants/acme/exports", key(adminKey), "") })
				w.wait(t, func() reply {
					h := key(adminKey)
					if c.cookie != "" {
						h["Cookie"] = c.cookie
					}
					return do(t, w.st.addr, "POST", c.target, h, "")
				})
				swapDoc(t, w.st.store, route(true))
				first, second := w.finish(t)
				if first.status != 200 || second.status != 400 || second.errorBody(t).Error != "bad_request" || len(w.arrived) != 0 {
					t.Fatalf("a waiting POST %s %q after tenant_params and tenant_cookies named it: answers %d and %d %q, %d more request(s) reached the upstream; want 200, then 400 bad_request and none",
						c.target, c.cookie, first.status, second.status, second.body, len(w.arrived))
				}
			})
		}
	}
}
