//go:build !race

package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// Zero allocations per request, one guard per path: an allowed API-key
// request through the whole handler and every denial the issue names.
func TestHandlerAllocations(t *testing.T) {
	cases := []struct {
		name   string
		raw    []byte
		limits bool
		status int
	}{
		{"allowed api key", request("GET", "/v1/users/42", hrisKey), false, 200},
		{"allowed, Connection: keep-alive", request("GET", "/v1/users/42", hrisKey, "Connection: keep-alive"), false, 200},
		{"401 unknown key", request("GET", "/v1/users", "pk_nosuchkey1_DemoAcmeHrisSecret000000000000000001"), false, 401},
		{"401 wrong secret", request("GET", "/v1/users", "pk_acmehris1_WrongSecretWrongSecretWrongSecret0001"), false, 401},
		{"403 scope", request("GET", "/v1/reports/1", hrisKey), false, 403},
		{"403 network", request("POST", "/v1/integrations", adminKey), false, 403},
		{"404 no route", request("GET", "/nope", hrisKey), false, 404},
		{"413 body", request("POST", "/v1/exports", adminKey, "Content-Length: 70000"), false, 413},
		{"429 rate", request("GET", "/v1/users", hrisKey), true, 429},
		{"allowed jwt (cached)", request("GET", "/v1/users/42", "", "Authorization: Bearer "+mint(t, demoClaims("acme-hris", "acme", "read:users"))), false, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newInmem(t, c.limits)
			raw := c.raw
			if c.status == 413 {
				raw = append(raw, make([]byte, 70000)...)
			}
			for i := 0; i < 50; i++ { // warm pools and caches; exhaust the bucket for 429
				m.serve(t, raw)
			}
			m.srv.keys.Wait()
			if v := m.srv.prepared.Load().verifier; v != nil {
				v.WaitCache()
			}
			if got := m.serve(t, raw); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) })
			if allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}

// headerReceived routes body-carrying requests before the body is read;
// it must not allocate either.
func TestHeaderReceivedAllocations(t *testing.T) {
	m := newInmem(t, false)
	m.src.Reset(request("POST", "/v1/exports", adminKey, "Content-Length: 70000"))
	m.br.Reset(m.src)
	h := &m.ctx.Request.Header
	if err := h.Read(m.br); err != nil {
		t.Fatal(err)
	}
	if got := m.srv.headerReceived(h).MaxRequestBodySize; got != 64<<10 {
		t.Fatalf("body limit for /v1/exports = %d, want 64 KiB", got)
	}
	if allocs := testing.AllocsPerRun(200, func() { m.srv.headerReceived(h) }); allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}

// multipartBody is a one-part body that, as memConn needs, has an empty
// line only at its end (its part headers end in "\n\n"). It goes as
// multipart/mixed, which override.go scans like any multipart type:
// fasthttp.Request.Read, unlike the sidecar's server, would re-encode a
// multipart/form-data body.
const multipartBody = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\n\n1\r\n--XyZ--\r\n\r\n"

// The trust-boundary paths allocate nothing either: a source address from
// X-Forwarded-For behind a trusted proxy, forged internal and override
// headers removed, and a chunked body whose trailers are dropped.
func TestTrustBoundaryAllocations(t *testing.T) {
	cases := []struct {
		name string
		raw  []byte
	}{
		{"behind a trusted proxy", request("GET", "/v1/users/42", hrisKey, "X-Forwarded-For: 203.0.113.9, 10.1.2.3")},
		{"forged and override headers", request("GET", "/v1/users/42", hrisKey, "X-Portcullis-Tenant: globex", "X-Real-IP: 10.0.0.5", "Forwarded: for=10.0.0.5")},
		{"chunked with trailers", []byte("POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTrailer: X-Other\r\nTransfer-Encoding: chunked\r\n\r\n" +
			// memConn answers a write ending in an empty line: so does this body
			"6\r\nab\r\n\r\n\r\n0\r\nX-Portcullis-Tenant: globex\r\nX-Other: 1\r\n\r\n")},
		{"chunked with a trailer named like header lines", []byte("POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nX-Other: 1\r\nUser-Agent: u\r\nX-Other: 2\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"6\r\nab\r\n\r\n\r\n0\r\nX-Other: 3\r\nUser-Agent: t\r\n\r\n")},
		// looked through for method override parameters (override.go)
		{"query and urlencoded body", append(request("POST", "/v1/records?a=1&b=_method", hrisKey,
			"Content-Type: application/x-www-form-urlencoded", "Content-Length: 17"), "a=1&b=_method\r\n\r\n"...)},
		{"urlencoded body with a charset", append(request("POST", "/v1/records", hrisKey,
			"Content-Type: application/x-www-form-urlencoded; charset=Shift_JIS", "Content-Length: 17"), "a=1&b=_method\r\n\r\n"...)},
		{"json body", append(request("POST", "/v1/records", hrisKey,
			"Content-Type: application/json", "Content-Length: 31"), `{"a":[1,"x\\"],"b":{"c":2}}`+"\r\n\r\n"...)},
		{"multipart body", append(request("POST", "/v1/records", hrisKey,
			"Content-Type: multipart/mixed; boundary=XyZ", "Content-Length: 63"), multipartBody...)},
		{"multipart body with a charset", append(request("POST", "/v1/records", hrisKey,
			"Content-Type: multipart/mixed; charset=utf-8; boundary=\"XyZ\"", "Content-Length: 63"), multipartBody...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newInmem(t, false)
			doc := *m.srv.store.Load().Doc // the example without limits
			doc.TrustedProxies = []string{"127.0.0.0/8"}
			snap, err := policy.Compile(&doc, policy.Live{Revision: 2})
			if err != nil {
				t.Fatal(err)
			}
			m.srv.store.Swap(snap)
			for range 50 {
				m.serve(t, c.raw)
			}
			m.srv.keys.Wait()
			if got := m.serve(t, c.raw); got != 200 {
				t.Fatalf("status %d, want 200", got)
			}
			if allocs := testing.AllocsPerRun(200, func() { m.serve(t, c.raw) }); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}

// A route binding {tenant} (authorize.go, tenantBound) finds and compares
// the path's segment in place: neither the caller's own tenant nor
// another's allocates.
func TestTenantPathAllocations(t *testing.T) {
	cases := []struct {
		name   string
		raw    []byte
		status int
	}{
		{"own tenant", request("GET", "/v1/tenants/acme/users", hrisKey), 200},
		{"own tenant, escaped", request("GET", "/v1/tenants/%61cme/users", hrisKey), 200},
		{"403 another tenant", request("GET", "/v1/tenants/globex/users", hrisKey), 403},
		{"403 another tenant, deeper", request("GET", "/v1/tenants/acme/reports/7", globexKey), 403},
		{"own tenant, query", request("GET", "/v1/tenants/acme/users?page=2&sort=name", hrisKey), 200},
		{"400 tenant parameter", request("GET", "/v1/tenants/acme/users?page=2&tenant=globex", hrisKey), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newInmem(t, false)
			doc := *m.srv.store.Load().Doc
			doc.Clients = append([]policy.ClientSpec(nil), doc.Clients...)
			tenantRoutes(&doc)
			snap, err := policy.Compile(&doc, policy.Live{Revision: 2})
			if err != nil {
				t.Fatal(err)
			}
			m.srv.store.Swap(snap)
			for range 50 {
				m.serve(t, c.raw)
			}
			m.srv.keys.Wait()
			if got := m.serve(t, c.raw); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			if allocs := testing.AllocsPerRun(200, func() { m.serve(t, c.raw) }); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}

// A public route's request takes and frees one of the slots public routes
// share (limit.go), and one past the cap is refused, without allocating.
func TestPublicAllocations(t *testing.T) {
	for _, c := range []struct {
		name   string
		full   bool
		status int
	}{
		{"allowed public", false, 200},
		{"503 public_limited", true, 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newInmem(t, false)
			raw := request("GET", "/v1/status", "")
			if c.full { // every slot held, as by slow requests in flight
				m.srv.public.Store(m.srv.prepared.Load().publicMax)
			}
			for range 50 {
				m.serve(t, raw)
			}
			if got := m.serve(t, raw); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			if allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) }); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}

// TestTokenBudgetAllocations: a token refused unverified because its
// source's budget of failures is spent (429 token_failures_limited,
// tokenbudget.go) costs no allocation: the refusal is what a flood of
// forged tokens gets.
func TestTokenBudgetAllocations(t *testing.T) {
	m := newInmem(t, false)
	m.srv.tokens = newTokenBudget(limiter.NewLimit(1, time.Hour, 1))
	claims := demoClaims("acme-hris", "acme", "read:users")
	claims["jti"] = "forged"
	good := mint(t, claims)
	forged := good[:len(good)-2] + "AA" // the signature's last bytes changed
	if forged == good {
		forged = good[:len(good)-2] + "AB"
	}
	raw := request("GET", "/v1/users/42", "", "Authorization: Bearer "+forged)
	if got := m.serve(t, raw); got != 401 {
		t.Fatalf("first forged token: status %d, want 401", got)
	}
	if got := m.serve(t, raw); got != 429 {
		t.Fatalf("forged token past the budget: status %d, want 429", got)
	}
	if allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) }); allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}

// A policy with tenant_headers and refuse_headers (policyHeaders) keeps
// the request path at zero allocations, with and without such a header
// on the request.
func TestNamedTenantHeaderAllocations(t *testing.T) {
	m := newInmem(t, false)
	doc := *m.srv.store.Load().Doc
	doc.TenantHeaders = []string{"X-Org-Id", "X-Workspace-Id"}
	doc.RefuseHeaders = []string{"X-Auth-Token"}
	snap, err := policy.Compile(&doc, policy.Live{Revision: m.srv.store.Load().Revision + 1})
	if err != nil {
		t.Fatal(err)
	}
	m.srv.store.Swap(snap)
	for _, raw := range [][]byte{
		request("GET", "/v1/users/42", hrisKey),
		request("GET", "/v1/users/42", hrisKey, "X-Org-Id: acme"),
		request("GET", "/v1/users/42", hrisKey, "X-Auth-Token: t"),
	} {
		for i := 0; i < 50; i++ {
			m.serve(t, raw)
		}
		m.srv.keys.Wait()
		want := 200
		if strings.Contains(string(raw), "X-Auth-Token") {
			want = 400
		}
		if got := m.serve(t, raw); got != want {
			t.Fatalf("%q: status %d, want %d", raw, got, want)
		}
		if allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) }); allocs != 0 {
			t.Errorf("%q: %v allocations per request, want 0", raw, allocs)
		}
	}
}

// A policy with refuse_cookies (refusecookie.go) keeps the request path
// at zero allocations: without a Cookie line, with cookies it does not
// list, and with one it lists (400, its message pre-rendered).
func TestRefusedCookieAllocations(t *testing.T) {
	m := newInmem(t, false)
	doc := *m.srv.store.Load().Doc
	doc.RefuseCookies = []string{"sessionid", "_app_session", "PHPSESSID"}
	snap, err := policy.Compile(&doc, policy.Live{Revision: m.srv.store.Load().Revision + 1})
	if err != nil {
		t.Fatal(err)
	}
	m.srv.store.Swap(snap)
	for _, c := range []struct {
		raw  []byte
		want int
	}{
		{request("GET", "/v1/users/42", hrisKey), 200},
		{request("GET", "/v1/users/42", hrisKey, "Cookie: theme=dark; lang=en"), 200},
		{request("GET", "/v1/users/42", hrisKey, "Cookie: theme=dark; %2Eapp%2Esession=x"), 400},
	} {
		for i := 0; i < 50; i++ {
			m.serve(t, c.raw)
		}
		m.srv.keys.Wait()
		if got := m.serve(t, c.raw); got != c.want {
			t.Fatalf("%q: status %d, want %d", c.raw, got, c.want)
		}
		if allocs := testing.AllocsPerRun(200, func() { m.serve(t, c.raw) }); allocs != 0 {
			t.Errorf("%q: %v allocations per request, want 0", c.raw, allocs)
		}
	}
}

// TestTenantNamesAllocations: on a route binding {tenant}, a policy
// naming tenant_params and tenant_cookies reads the query and the Cookie
// lines for them without allocating, served or refused.
func TestTenantNamesAllocations(t *testing.T) {
	m := newInmem(t, false)
	doc := *m.srv.store.Load().Doc
	doc.Routes = append(append([]policy.RouteSpec(nil), doc.Routes...),
		policy.RouteSpec{Method: "GET", Path: "/v1/tenants/{tenant}/users", Class: "standard", Scopes: []string{"read:users"}})
	doc.TenantParams = []string{"tenant_id", "org"}
	doc.TenantCookies = []string{"org_id"}
	snap, err := policy.Compile(&doc, policy.Live{Revision: m.srv.store.Load().Revision + 1})
	if err != nil {
		t.Fatal(err)
	}
	m.srv.store.Swap(snap)
	for _, c := range []struct {
		raw  []byte
		want int
	}{
		{request("GET", "/v1/tenants/acme/users?a=1&organization=x", hrisKey, "Cookie: theme=dark"), 200},
		{request("GET", "/v1/tenants/acme/users?a=1&tenant%5Fid=globex", hrisKey), 400},
		{request("GET", "/v1/tenants/acme/users", hrisKey, "Cookie: theme=dark; org_id=globex"), 400},
	} {
		for i := 0; i < 50; i++ {
			m.serve(t, c.raw)
		}
		m.srv.keys.Wait()
		if got := m.serve(t, c.raw); got != c.want {
			t.Fatalf("%q: status %d, want %d", c.raw, got, c.want)
		}
		if allocs := testing.AllocsPerRun(200, func() { m.serve(t, c.raw) }); allocs != 0 {
			t.Errorf("%q: %v allocations per request, want 0", c.raw, allocs)
		}
	}
}
