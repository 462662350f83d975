package dataplane

import (
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// Finding (review53): a route's {tenant} segment was bound to the
// caller's tenant, but a parameter of the same name in the query or the
// body went on to the service unchecked. Laravel's $request->tenant reads
// the request's input (query and body, a JSON one too) before the route's
// parameter, and ASP.NET Core binds an action's tenant argument from a
// form field before the route value, ignoring case: an acme key calling
// GET /v1/tenants/acme/users?tenant=globex passed the binding and such a
// service answered with globex's users. On a route that binds {tenant},
// a parameter named tenant, spelt as those frameworks decode it, is now
// refused (400), as _method is: it cannot be taken out without rewriting
// the request.

// tenantParamRoutes is tenantRoutes with a POST route that binds the
// tenant too, for the bodies.
func tenantParamRoutes(d *policy.Document) {
	tenantRoutes(d)
	d.Routes = append(d.Routes, policy.RouteSpec{Method: "POST", Path: "/v1/tenants/{tenant}/records", Class: "standard", Scopes: []string{"write:records"}})
}

// TestTenantParamRefused sends, over a real socket, an acme key's
// requests for acme's own paths that name globex in a tenant parameter:
// each is refused 400 and nothing reaches the upstream. Parameters of
// other names, and a tenant parameter on a route that binds nothing, go
// on as before.
func TestTenantParamRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	const (
		form = "application/x-www-form-urlencoded"
		mp   = multipartXyZ
		own  = "/v1/tenants/acme/users"
		post = "/v1/tenants/acme/records"
	)
	refused := []struct{ method, target, ctype, body string }{
		{"GET", own + "?tenant=globex", "", ""},
		{"GET", own + "?Tenant=globex", "", ""}, // ASP.NET Core binds without case
		{"GET", own + "?TENANT=globex", "", ""},
		{"GET", own + "?%74enant=globex", "", ""},
		{"GET", own + "?tenant[]=globex", "", ""},
		{"GET", own + "?tenant%5B%5D=globex", "", ""},
		{"GET", own + "?[tenant]=globex", "", ""}, // Rack 2
		{"GET", own + "?+tenant=globex", "", ""},  // PHP drops a leading blank
		{"GET", own + "?a=1;tenant=globex", "", ""},
		{"GET", own + "?a=1&tenant", "", ""},
		{"GET", own + "?tenant=acme", "", ""}, // whatever its value: which would the service read?
		{"GET", "/v1/tenants/acme/reports/7?tenant=globex", "", ""},
		{"POST", post, form, "a=1&tenant=globex"},
		{"POST", post, "", "tenant=globex"}, // no Content-Type: Rack reads a form
		{"POST", post, "application/json", `{"a":1,"tenant":"globex"}`},
		{"POST", post, "application/json", `{"Tenant":"globex"}`},
		{"POST", post, "application/json", `{"\u0074enant":"globex"}`},
		{"POST", post, multipartXyZ, globexPart(`"tenant"`)},
		{"POST", post, multipartXyZ, globexPart(`"Tenant"`)},
		{"POST", post, multipartXyZ, globexPart(`"tenant[]"`)},
		{"POST", post, multipartXyZ,
			"--XyZ\r\nContent-Disposition: form-data\r\nContent-ID: tenant\r\n\r\nglobex\r\n--XyZ--\r\n"},
	}
	for _, c := range refused {
		n := len(rec.received())
		r := hrisSend(t, st.addr, c.method, c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s %s (%s) %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				c.method, c.target, c.ctype, c.body, r.status, len(got))
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("%s %s %q: error %q, want bad_request", c.method, c.target, c.body, e.Error)
		}
	}
	forwarded := []struct{ method, target, ctype, body string }{
		{"GET", own, "", ""},
		{"GET", own + "?tenant_id=globex&subtenant=globex&tenants=globex&x=tenant", "", ""},
		{"GET", "/v1/users?tenant=globex", "", ""}, // no {tenant} in its route: nothing is bound
		{"POST", post, form, "a=tenant&b=1"},
		{"POST", post, "application/json", `{"a":{"tenant_id":"globex"},"b":["tenant"]}`},
		{"POST", post, multipartXyZ, globexPart(`"tenants"`)},
		{"POST", post, "text/plain", "tenant=globex"},
	}
	for _, c := range forwarded {
		n := len(rec.received())
		r := hrisSend(t, st.addr, c.method, c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 200 || len(got) != 1 || string(got[0].body) != c.body {
			t.Errorf("%s %s (%s) %q as acme-hris: %d %s, the upstream got %d request(s); want 200 and the request forwarded",
				c.method, c.target, c.ctype, c.body, r.status, r.body, len(got))
		}
	}
}

// TestTenantParamReachesWaitingRequests: a request that waited, in its
// class's queue or for an upstream connection, is decided again on the
// tables in force (recheck.go); a push that made its route bind {tenant}
// meanwhile refuses a tenant parameter it carries, as on arrival. At the
// pool the request's target has been written over by the forwarded one
// (prepareRequest), so the query is read again from it: a path the
// normaliser shortened ("//") moved the query under the slice read on
// arrival.
func TestTenantParamReachesWaitingRequests(t *testing.T) {
	for _, pool := range []bool{false, true} {
		t.Run(map[bool]string{false: "queue", true: "pool"}[pool], func(t *testing.T) {
			w := newWaitScene(t, pool) // recheck_test.go
			swapDoc(t, w.st.store, tenantExports(pool, "{org}"))
			w.hold(t, func() reply { return do(t, w.st.addr, "POST", "/v1/tenants/acme/exports", key(adminKey), "") })
			w.wait(t, func() reply {
				return do(t, w.st.addr, "POST", "/v1//tenants/acme/exports?tenant=globex", key(adminKey), "")
			})
			swapDoc(t, w.st.store, tenantExports(pool, "{tenant}"))
			first, second := w.finish(t)
			if first.status != 200 || second.status != 400 || second.errorBody(t).Error != "bad_request" || len(w.arrived) != 0 {
				t.Fatalf("a waiting POST /v1//tenants/acme/exports?tenant=globex after its route came to bind {tenant}: answers %d and %d %q, %d more request(s) reached the upstream; want 200, then 400 bad_request and none",
					first.status, second.status, second.body, len(w.arrived))
			}
		})
	}
}

// hrisSend sends, over a real socket to addr, a request as acme-hris
// (hrisKey), with a Content-Type when ctype is not empty and a body when
// body is not, and returns the reply: the rig of the tenant parameter
// tests.
func hrisSend(t *testing.T, addr, method, target, ctype, body string) reply {
	t.Helper()
	h := method + " " + target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n"
	if ctype != "" {
		h += "Content-Type: " + ctype + "\r\n"
	}
	if body != "" {
		h += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	return raw(t, addr, h+"\r\n"+body)
}

// multipartXyZ is the Content-Type of globexPart's body.
const multipartXyZ = "multipart/form-data; boundary=XyZ"

// globexPart is a multipart body with one part, named by the name
// parameter's value name as written (quotes and all), holding globex.
func globexPart(name string) string {
	return "--XyZ\r\nContent-Disposition: form-data; name=" + name + "\r\n\r\nglobex\r\n--XyZ--\r\n"
}
