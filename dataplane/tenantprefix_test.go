package dataplane

import (
	"strconv"
	"testing"
)

// Finding (review64): the tenant parameter rule read a parameter's whole
// name, so one naming tenant as a property of an object went on. ASP.NET
// Core (and MVC 5) binds a complex action parameter's Tenant property from
// "q.Tenant" when any value provider holds the prefix "q", the route's
// "tenant" value then unread; its jQuery form provider turns "q[tenant]"
// into "q.tenant"; MVC 5's JSON provider flattens {"q":{"tenant":...}}
// into "q.tenant" too, ahead of the route's data. So an acme key calling
// GET /v1/tenants/acme/users?q.tenant=globex passed the binding, and an
// action taking a UserQuery q bound q.Tenant to globex.

// TestTenantParamPrefixedRefused sends, over a real socket, an acme key's
// requests for acme's own paths that name globex as a tenant property of
// an object (query, form, multipart and JSON at any depth): each is
// refused 400 and nothing reaches the upstream. Names whose last part is
// not tenant go on.
func TestTenantParamPrefixedRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	const (
		form = "application/x-www-form-urlencoded"
		js   = "application/json"
		own  = "/v1/tenants/acme/users"
		post = "/v1/tenants/acme/records"
	)
	refused := []struct{ method, target, ctype, body string }{
		{"GET", own + "?q.tenant=globex", "", ""}, // raw brackets in a query are refused already (route.go)
		{"GET", own + "?q.Tenant=globex", "", ""},
		{"GET", own + "?query%2ETENANT=globex", "", ""},
		{"GET", own + "?q%5Btenant%5D=globex", "", ""},
		{"GET", own + "?a.b.tenant=globex", "", ""},
		{"GET", own + "?q%5B0%5D.tenant=globex", "", ""},
		{"GET", own + "?q%5Btenant%5D%5B%5D=globex", "", ""},
		{"GET", own + "?q%5Btenant%5D%5B0%5D=globex", "", ""},               // an index names the part before it
		{"GET", own + "?" + string(make20('a')) + ".tenant=globex", "", ""}, // a long prefix
		{"POST", post, form, "a=1&order[tenant]=globex"},
		{"POST", post, form, "order.tenant=globex"},
		{"POST", post, multipartXyZ, globexPart(`"order[tenant]"`)},
		{"POST", post, multipartXyZ, globexPart(`"order.Tenant"`)},
		{"POST", post, js, `{"a":{"tenant":"globex"}}`},
		{"POST", post, js, `{"a":[1,{"b":{"Tenant":"globex"}}]}`},
		{"POST", post, js, `[{"tenant":"globex"}]`},
		{"POST", post, js, `{"order.tenant":"globex"}`},
		{"POST", post, js, `{"a":{"\u0074enant":"globex"}}`},
		{"POST", post, js, `{"a":{"` + string(make20('x')) + `":1,"tenant":"globex"}}`},
	}
	for _, c := range refused {
		n := len(rec.received())
		r := hrisSend(t, st.addr, c.method, c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s %s (%s) %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				c.method, c.target, c.ctype, c.body, r.status, len(got))
		}
	}
	forwarded := []struct{ method, target, ctype, body string }{
		{"GET", own + "?q.tenant_id=globex&tenant.name=x&q%5Btenants%5D=1&q.subtenant=2", "", ""},
		{"GET", own + "?a=q.tenant", "", ""},
		{"POST", post, form, "order[tenant_id]=globex"},
		{"POST", post, js, `{"a":{"tenant_id":"globex"},"b":["tenant"],"c":"tenant"}`},
		{"POST", post, js, `{"a":"{\"tenant\":1}"}`}, // a string holding JSON is a value
	}
	for _, c := range forwarded {
		n := len(rec.received())
		r := hrisSend(t, st.addr, c.method, c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 200 || len(got) != 1 || string(got[0].body) != c.body {
			t.Errorf("%s %s (%s) %q as acme-hris: %d %s, the upstream got %d request(s); want 200 and the request forwarded",
				c.method, c.target, c.ctype, c.body, r.status, r.body, len(got))
		}
	}
	// On a route that binds nothing, the same names go on.
	n := len(rec.received())
	if r := hrisSend(t, st.addr, "GET", "/v1/users?q.tenant=globex", "", ""); r.status != 200 || len(rec.received()) != n+1 {
		t.Errorf("GET /v1/users?q.tenant=globex: %d; want 200 and forwarded (its route binds no tenant)", r.status)
	}
}

func make20(c byte) []byte {
	b := make([]byte, 20)
	for i := range b {
		b[i] = c
	}
	return b
}

// Finding (review64): ABP, a multi-tenant framework for ASP.NET Core,
// resolves the current tenant from a "__tenant" query parameter first,
// then a form field, and only then from the route ({__tenant}), a header
// and a cookie (TenantResolverConsts.DefaultTenantKey; its data filters
// then scope every query to that tenant). "__tenant" was no tenant
// parameter to the scan, so GET /v1/tenants/acme/users?__tenant=globex
// passed the binding and such a service served globex's users. A header
// of that name was already refused for its '_'.

// TestTenantParamABPKeyRefused sends, over a real socket, an acme key's
// requests for acme's own paths that name globex in __tenant: each is
// refused 400 and nothing reaches the upstream.
func TestTenantParamABPKeyRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	for _, c := range []struct{ target, ctype, body string }{
		{"/v1/tenants/acme/users?__tenant=globex", "", ""},
		{"/v1/tenants/acme/users?__Tenant=globex", "", ""},
		{"/v1/tenants/acme/users?q.__tenant=globex", "", ""},
		{"/v1/tenants/acme/records", "application/x-www-form-urlencoded", "a=1&__tenant=globex"},
		{"/v1/tenants/acme/records", multipartXyZ, globexPart(`"__tenant"`)},
	} {
		method := "GET"
		if c.body != "" {
			method = "POST"
		}
		n := len(rec.received())
		r := hrisSend(t, st.addr, method, c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s %s %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				method, c.target, c.body, r.status, len(got))
		}
	}
	n := len(rec.received())
	if r := raw(t, st.addr, "GET /v1/tenants/acme/users?__tenant_name=x&tenant__=y HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n\r\n"); r.status != 200 || len(rec.received()) != n+1 {
		t.Errorf("GET ?__tenant_name=x&tenant__=y: %d; want 200 and forwarded", r.status)
	}
}

// Finding (review64): MVC 5's JSON value provider parses a body with
// JavaScriptSerializer, which takes member names in single quotes or
// none ({ 'tenant': ... }, { tenant: ... }), where the scan read names in
// double quotes only; MVC 5 binds such a member before the route's data.

// TestTenantJSONLooseNamesRefused sends, over a real socket, an acme
// key's JSON bodies naming globex's tenant in such members: each is
// refused 400 and nothing reaches the upstream; quotes inside strings
// are values.
func TestTenantJSONLooseNamesRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	for _, c := range []struct {
		body    string
		refused bool
	}{
		{`{'tenant':'globex'}`, true},
		{`{tenant:"globex"}`, true},
		{`{"q":{ Tenant : 1}}`, true},
		{`{'q':{'\u0074enant':'globex'}}`, true},
		{`{'q.tenant':1}`, true},
		{`{"a":"it's", "b":"tenant:1"}`, false},
		{`{"a":"x'tenant':1"}`, false},
		{`[true, false, null, 1]`, false},
	} {
		n := len(rec.received())
		r := raw(t, st.addr, "POST /v1/tenants/acme/records HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+
			"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(c.body))+"\r\n\r\n"+c.body)
		reached := len(rec.received()) - n
		switch {
		case c.refused && (r.status != 400 || reached != 0):
			t.Errorf("POST %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded", c.body, r.status, reached)
		case !c.refused && (r.status != 200 || reached != 1):
			t.Errorf("POST %q as acme-hris: %d %s, the upstream got %d request(s); want 200 and forwarded", c.body, r.status, r.body, reached)
		}
	}
}
