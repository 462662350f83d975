package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (review103): the check before the body (prebody.go) let a
// request without an API key or token through unchecked on a listener
// verifying client certificates under a policy mapping them, taking the
// connection for out of its reach. A client certificate's upload naming
// another tenant, in its {tenant} path or a tenant header, got its 100
// Continue and had its body read, up to its class's limit, before the
// 403 or 400; so did one without any credential, before the 401. The
// hook reaches its connection (connOfHeader) and now authenticates the
// certificate there, as the handler does.

// TestMTLSTenantRefusedBeforeBody sends, over real TLS with real client
// certificates, the HRIS integration's uploads (a certificate its
// subject maps to acme-hris, no key or token) to a real upstream: to
// globex's /v1/tenants/{tenant}/records, with Expect: 100-continue the
// first answer is the 403, not 100; a declared body of 1 MB gets its 403
// from the head; a chunked body its 403 after at most preBodyFree of it.
// A tenant header naming globex is 400 the same way, and a certificate no
// client names, or none, 401 before a 100. Each is in the error shape,
// audited so, and nothing reaches the upstream. Its own tenant still
// gets 100 and is served as acme-hris, auth method mtls.
func TestMTLSTenantRefusedBeforeBody(t *testing.T) {
	serverCA, clientCA := newAuthority(t, "server CA"), newAuthority(t, "client CA")
	files := tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), clientCA)
	st, rec := startRecorded(t, func(c *Config) { c.TLS = files })
	swapDoc(t, st.store, func(d *policy.Document) { mtlsPolicy(d); tenantUpload(d) })
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	hris := clientCA.issue(t, "hris", nil, false)
	stranger := clientCA.issue(t, "stranger", []string{strangerID}, false)
	head := func(tenant string) string {
		return "POST /v1/tenants/" + tenant + "/records HTTP/1.1\r\nHost: svc\r\n"
	}
	const chunk20K = "Transfer-Encoding: chunked\r\n\r\n5000\r\n"
	body20K := strings.Repeat("a", 0x5000) + "\r\n"
	first := func(t *testing.T, cert *tls.Certificate, request, body string) reply {
		t.Helper()
		tc, err := dialTLS(st.addr, roots, cert)
		if err != nil {
			t.Fatal(err)
		}
		return firstAnswerOn(t, tc.c, request, body)
	}
	for _, c := range []struct {
		name    string
		cert    *tls.Certificate
		request string
		status  int
		err     string
		d       audit.Decision
	}{
		{"another tenant's path, Expect: 100-continue", &hris.tls, head("globex") + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", 403, "tenant_mismatch", audit.TenantMismatch},
		{"another tenant's path, Expect: 100-continue, 1 MB", &hris.tls, head("globex") + "Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n", 403, "tenant_mismatch", audit.TenantMismatch},
		{"another tenant's path, 1 MB declared, head only", &hris.tls, head("globex") + "Content-Length: 1000000\r\n\r\n", 403, "tenant_mismatch", audit.TenantMismatch},
		{"another tenant's path, chunked, 20 KiB sent", &hris.tls, head("globex") + chunk20K + body20K, 403, "tenant_mismatch", audit.TenantMismatch},
		{"another tenant's header, Expect: 100-continue", &hris.tls, head("acme") + "X-Tenant: globex\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 400, "bad_request", audit.BadRequest},
		{"another tenant's header, chunked, 20 KiB sent", &hris.tls, head("acme") + "X-Tenant: globex\r\n" + chunk20K + body20K, 400, "bad_request", audit.BadRequest},
		{"a certificate no client names, Expect: 100-continue", &stranger.tls, head("acme") + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", 401, "unauthenticated", audit.Unauthenticated},
		{"no certificate, no credential, Expect: 100-continue", nil, head("acme") + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", 401, "unauthenticated", audit.Unauthenticated},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(rec.received())
			r := first(t, c.cert, c.request, "")
			if got := rec.received()[n:]; r.status != c.status || len(got) != 0 {
				t.Fatalf("first answer %d %q, the upstream got %d request(s); want %d before the body, nothing forwarded", r.status, r.body, len(got), c.status)
			}
			if e := r.errorBody(t); e.Error != c.err {
				t.Errorf("error %q, want %s", e.Error, c.err)
			}
			if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != c.d {
				t.Errorf("audited %v, want %v", rr.Decision, c.d)
			}
		})
	}
	n := len(rec.received())
	if r := first(t, &hris.tls, head("acme")+"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n", "{}"); r.status != 200 {
		t.Fatalf("its own tenant with Expect: 100-continue: %d %q, want 100 then 200", r.status, r.body)
	}
	if got := rec.only(t, n); got.header.Get("X-Portcullis-Auth-Method") != "mtls" || got.header.Get("X-Portcullis-Client") != "acme-hris" {
		t.Errorf("upstream identity: auth method %q, client %q; want mtls, acme-hris", got.header.Get("X-Portcullis-Auth-Method"), got.header.Get("X-Portcullis-Client"))
	}
	// Read whole (a small declared body, which the handler decides), the
	// upload to globex's path is refused the same way.
	if r := first(t, &hris.tls, head("globex")+"Content-Length: 2\r\n\r\n{}", ""); r.status != 403 {
		t.Errorf("a small body to globex's path: %d %q, want 403", r.status, r.body)
	}
}
