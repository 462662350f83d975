package dataplane

import "testing"

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
		form = "application/x-www-form-urlencoded"
		js   = "application/json"
		own  = "/v1/tenants/acme/users"
		post = "/v1/tenants/acme/records"
	)
	for _, c := range []struct{ method, target, ctype, body string }{
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
		r := hrisSend(t, st.addr, c.method, c.target, c.ctype, c.body)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s %s %q as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				c.method, c.target, c.body, r.status, len(got))
		}
	}
}

// Finding (attack811, req804): a multipart body was not read for
// tenant_params names, though PHP ($_POST, Laravel's input()), ASP.NET
// Core's form binding and Express's multer read a multipart part's name
// as a parameter as they read a urlencoded field's: an acme key posting
// a part named tenant_id with globex reached the service.

// TestTenantNamesInMultipartRefused sends, over a real socket to a real
// upstream, an acme key's multipart POSTs to acme's own path with a part
// a tenant_params name names, in the spellings the name parameter takes
// (quotes, none, as a property): each is refused 400 and nothing reaches
// the upstream; a part of another name goes on.
func TestTenantNamesInMultipartRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantNamesRoutes)
	send := func(name string) reply {
		t.Helper()
		return hrisSend(t, st.addr, "POST", "/v1/tenants/acme/records", multipartXyZ, globexPart(name))
	}
	for _, name := range []string{`"tenant_id"`, `"TenantId"`, `org`, `'org'`, `"q.tenant_id"`, `"q[org]"`, `"tenant\_id"`} {
		n := len(rec.received())
		if r := send(name); r.status != 400 || len(rec.received()) != n {
			t.Errorf("a multipart part name=%s as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				name, r.status, len(rec.received())-n)
		}
	}
	for _, name := range []string{`"organization"`, `"tenant_idx"`} {
		n := len(rec.received())
		if r := send(name); r.status != 200 || len(rec.received()) != n+1 {
			t.Errorf("a multipart part name=%s as acme-hris: %d %s; want 200 and the request forwarded", name, r.status, r.body)
		}
	}
}

// Finding (dup805): the tenant parameter's multipart walk
// (overrideMultipart) reads a part's Content-ID, which Rack takes for
// the part's name when its Content-Disposition has none; the walk for
// tenant_params names, written again (multipartNamed), read the name
// parameter only: a part with "Content-ID: tenant_id" and no name gave a
// Rails service a tenant_id parameter of globex.

// TestTenantNamesInMultipartContentIDRefused sends, over a real socket
// to a real upstream, an acme key's multipart POST to acme's own path
// with a part named by a tenant_params name in its Content-ID: it is
// refused 400 and nothing reaches the upstream; a Content-ID of another
// name goes on.
func TestTenantNamesInMultipartContentIDRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantNamesRoutes)
	send := func(id string) reply {
		t.Helper()
		body := "--XyZ\r\nContent-Disposition: form-data\r\nContent-ID: " + id + "\r\n\r\nglobex\r\n--XyZ--\r\n"
		return hrisSend(t, st.addr, "POST", "/v1/tenants/acme/records", multipartXyZ, body)
	}
	for _, id := range []string{"tenant_id", "TenantId", "q[org]"} {
		n := len(rec.received())
		if r := send(id); r.status != 400 || len(rec.received()) != n {
			t.Errorf("a multipart part with Content-ID: %s as acme-hris: %d, the upstream got %d request(s); want 400 and nothing forwarded",
				id, r.status, len(rec.received())-n)
		}
	}
	n := len(rec.received())
	if r := send("organization"); r.status != 200 || len(rec.received()) != n+1 {
		t.Errorf("a multipart part with Content-ID: organization as acme-hris: %d %s; want 200 and the request forwarded", r.status, r.body)
	}
}
