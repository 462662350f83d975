//go:build !race

package dataplane

import (
	"math"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// headerReceived refuses an unauthenticated large body before fasthttp
// sizes a buffer for it: the limit it returns is refuseBody, and the
// check allocates nothing.
func TestPreBodyLimit(t *testing.T) {
	m := newInmem(t, false)
	cases := []struct {
		name string
		req  []byte
		want int
	}{
		{"no credential", request("POST", "/v1/exports", "", "Content-Length: 60000"), refuseBody},
		{"over the class limit", request("POST", "/v1/exports", "", "Content-Length: 70000"), 64 << 10},
		{"no route", request("POST", "/v1/nowhere", adminKey, "Content-Length: 70000"), refuseBody},
		{"verified", request("POST", "/v1/exports", adminKey, "Content-Length: 60000"), 64 << 10},
		{"verified, another tenant's header", request("POST", "/v1/exports", adminKey, "Content-Length: 60000", "X-Tenant: globex"), refuseBody},
		{"verified, its tenant's header", request("POST", "/v1/exports", adminKey, "Content-Length: 60000", "X-Tenant: acme"), 64 << 10},
		{"chunked, no credential", request("POST", "/v1/exports", "", "Transfer-Encoding: chunked"), preBodyFree},
		{"verified, lacking the scope", request("POST", "/v1/records", adminKey, "Content-Length: 60000"), refuseBody},
		{"verified, outside the class's allow_cidrs", request("POST", "/v1/integrations", adminKey, "Content-Length: 60000"), refuseBody},
		{"verified, no approval", request("POST", "/v1/exports/full", adminKey, "Content-Length: 60000"), refuseBody},
		{"chunked, verified, lacking the scope", request("POST", "/v1/records", adminKey, "Transfer-Encoding: chunked"), preBodyFree},
		{"verified, a query", request("POST", "/v1/exports?since=2024-01-01&page=2", adminKey, "Content-Length: 60000"), 64 << 10},
		{"chunked, no route", request("POST", "/v1/nowhere", adminKey, "Transfer-Encoding: chunked"), preBodyFree},
		{"method override in the query", request("POST", "/v1/exports?_method=DELETE", adminKey, "Content-Length: 60000"), refuseBody},
		{"chunked, unknown key", request("POST", "/v1/exports", "pk_acmehris1_NotTheSecret0000000000000000000001", "Transfer-Encoding: chunked"), preBodyFree},
		// What the record needs of a refused head is kept (preRefusal),
		// and an expectation in another case written in lower case.
		{"chunked, no credential, a request id", request("POST", "/v1/exports", "", "Transfer-Encoding: chunked", "X-Request-ID: id-1"), preBodyFree},
		{"verified, Expect: 100-Continue", request("POST", "/v1/exports", adminKey, "Content-Length: 60000", "Expect: 100-Continue"), 64 << 10},
	}
	for _, c := range cases {
		checkPreBodyLimit(t, m, c.name, c.req, c.want)
	}
}

// The check before the body refuses a path naming another tenant than
// the credential's (review97) without allocating, and lets the caller's
// own tenant's path through.
func TestPreBodyLimitTenantPath(t *testing.T) {
	m := newInmem(t, false)
	swapDoc(t, m.srv.cfg.Store, tenantUpload)
	cases := []struct {
		name string
		req  []byte
		want int
	}{
		{"another tenant's path", request("POST", "/v1/tenants/globex/records", hrisKey, "Content-Length: 60000"), refuseBody},
		{"its tenant's path", request("POST", "/v1/tenants/acme/records", hrisKey, "Content-Length: 60000"), 1 << 20},
		{"its tenant's path, a cookie", request("POST", "/v1/tenants/acme/records", hrisKey, "Content-Length: 60000", "Cookie: theme=dark"), 1 << 20},
		{"its tenant's path, a tenant cookie", request("POST", "/v1/tenants/acme/records", hrisKey, "Content-Length: 60000", "Cookie: __tenant=globex"), refuseBody},
	}
	for _, c := range cases {
		checkPreBodyLimit(t, m, c.name, c.req, c.want)
	}
}

// The check before the body authenticates a request without a key or
// token by its connection's client certificate (review103), without
// allocating: a path naming another tenant than the certificate's
// client's, a tenant header naming another, and a certificate no client
// names are refused; its own tenant's path goes on. The connection
// carries the identities of a verified certificate as a TLS connection
// does after its first request (TestMTLSAllocations); the handshake is
// TestMTLSTenantRefusedBeforeBody's.
func TestPreBodyLimitMTLS(t *testing.T) {
	cases := []struct {
		name string
		ids  []string
		req  []byte
		want int
	}{
		{"another tenant's path", []string{"subject:CN=hris,O=Acme"}, request("POST", "/v1/tenants/globex/records", "", "Content-Length: 60000"), refuseBody},
		{"another tenant's header", []string{"subject:CN=hris,O=Acme"}, request("POST", "/v1/tenants/acme/records", "", "Content-Length: 60000", "X-Tenant: globex"), refuseBody},
		{"a certificate no client names", []string{"subject:CN=stranger"}, request("POST", "/v1/tenants/acme/records", "", "Content-Length: 60000"), refuseBody},
		{"its tenant's path", []string{"subject:CN=hris,O=Acme"}, request("POST", "/v1/tenants/acme/records", "", "Content-Length: 60000"), 1 << 20},
		{"a certificate lacking the route's scope", []string{"subject:CN=hris,O=Acme"}, request("POST", "/v1/exports", "", "Content-Length: 60000"), refuseBody},
	}
	for _, c := range cases {
		m := newInmem(t, false)
		swapDoc(t, m.srv.cfg.Store, func(d *policy.Document) { mtlsPolicy(d); tenantUpload(d) })
		cn := m.ctx.Conn().(*conn)
		cn.ids, cn.idsDone, cn.certEnd = c.ids, true, math.MaxInt64
		checkPreBodyLimit(t, m, c.name, c.req, c.want)
	}
}

// On a class whose max_body is within preBodyFree, a refused chunked
// body is read up to that limit, not preBodyFree (attack135), and the
// check still allocates nothing.
func TestPreBodyLimitSmallClass(t *testing.T) {
	m := newInmem(t, false)
	swapDoc(t, m.srv.cfg.Store, smallClass)
	cases := []struct {
		name string
		req  []byte
		want int
	}{
		{"chunked, no credential", request("POST", "/v1/records", "", "Transfer-Encoding: chunked"), 8 << 10},
		{"chunked, verified", request("POST", "/v1/records", hrisKey, "Transfer-Encoding: chunked"), 8 << 10},
		{"chunked, no route", request("POST", "/v1/nowhere", hrisKey, "Transfer-Encoding: chunked"), preBodyFree},
		{"over the class limit", request("POST", "/v1/records", "", "Content-Length: 9000"), 8 << 10},
	}
	for _, c := range cases {
		checkPreBodyLimit(t, m, c.name, c.req, c.want)
	}
}

// checkPreBodyLimit reads the head req into m's request and checks the
// body limit the check before the body gives it, want, and that the
// check allocates nothing.
func checkPreBodyLimit(t *testing.T, m *inmem, name string, req []byte, want int) {
	t.Helper()
	m.src.Reset(req)
	m.br.Reset(m.src)
	h := &m.ctx.Request.Header
	h.Reset()
	if err := h.Read(m.br); err != nil {
		t.Fatal(err)
	}
	if got := m.srv.headerReceived(h).MaxRequestBodySize; got != want {
		t.Errorf("%s: body limit %d, want %d", name, got, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { m.srv.headerReceived(h) }); allocs != 0 {
		t.Errorf("%s: %v allocations per call, want 0", name, allocs)
	}
}
