package dataplane

import (
	"strconv"
	"testing"
)

// Finding (attack811, req804): tenant_params names were matched as
// refuse_cookies names are, by the whole name, and in a JSON body among
// the top-level double-quoted members only. The tenant parameter itself
// is refused as an object's property too (tenantparam.go: ASP.NET Core
// and MVC 5 bind a complex parameter q's TenantId from "q.TenantId" or
// "q[TenantId]" and never look at the route then; MVC 5's JSON provider
// flattens {"q":{"TenantId":...}} and takes {'TenantId':...} and
// {TenantId:...}): the same spellings of a tenant_params name went on to
// the service.

// TestTenantNamesAsPropertiesRefused sends, over a real socket to a real
// upstream, an acme key's requests for acme's own paths carrying a
// tenant_params name as an object's property, in the query, a form body
// or a JSON body at any depth, in single quotes or none: each is refused
// 400 and nothing reaches the upstream.
func TestTenantNamesAsPropertiesRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantNamesRoutes)
	const (
		form = "Content-Type: application/x-www-form-urlencoded\r\n"
		js   = "Content-Type: application/json\r\n"
		own  = "/v1/tenants/acme/users"
		post = "/v1/tenants/acme/records"
	)
	for _, c := range []struct{ method, target, headers, body string }{
		{"GET", own + "?q.tenant_id=globex", "", ""},
		{"GET", own + "?q.TenantId=globex", "", ""},
		{"GET", own + "?q%5BTenantId%5D=globex", "", ""},
		{"GET", own + "?q[0].org=globex", "", ""},
		{"GET", own + "?q[org][]=globex", "", ""},
		{"POST", post, form, "a=1&q.tenant_id=globex"},
		{"POST", post, js, `{"q":{"TenantId":"globex"}}`},
		{"POST", post, js, `{"q":[{"org":"globex"}]}`},
		{"POST", post, js, `{'tenant_id':'globex'}`},
		{"POST", post, js, `{org:"globex"}`},
		{"POST", post, js, `{"a":1,'org':"globex"}`},
	} {
		n := len(rec.received())
		h := c.method + " " + c.target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: " + hrisKey + "\r\n" + c.headers
		if c.body != "" {
			h += "Content-Length: " + strconv.Itoa(len(c.body)) + "\r\n"
		}
		r := raw(t, st.addr, h+"\r\n"+c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s %s %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				c.method, c.target, c.body, r.status, len(got))
		}
	}
}
