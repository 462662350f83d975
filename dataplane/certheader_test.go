package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// The sidecar terminates the client's TLS, so the headers in which
// TLS-terminating proxies hand their service the client's certificate
// (RFC 9440's Client-Cert and Client-Cert-Chain, and those of nginx,
// ingress-nginx, AWS ALB, IIS ARR, Cloudflare, Jetty) are never its to
// pass on: one that reached the service was the client's word for a
// certificate it never presented, which ASP.NET Core's certificate
// forwarding (X-ARR-ClientCert) or a service moved from behind such a
// proxy takes for the client's identity. Every one is removed, in any
// case, on a public route and behind a credential; other headers of
// like names pass.
func TestClientCertHeadersDropped(t *testing.T) {
	st, up := startRecorded(t, nil)
	const cert = ":MIIBszCCAVmgAwIBAgIUadminCertificate=:"
	forged := []string{"Client-Cert", "client-cert-chain", "X-Client-Cert", "X-Client-Cert-Chain-Verified",
		"X-SSL-Client-Cert", "x-ssl-cert", "X-SSL-Client-Verify", "X-SSL-Client-S-DN", "ssl-client-cert",
		"Ssl-Client-Subject-Dn", "X-Amzn-Mtls-Clientcert", "X-AMZN-MTLS-CLIENTCERT-SUBJECT", "X-ARR-ClientCert",
		"Cf-Client-Cert-Der-Base64", "Proxy-Auth-Cert", "proxy-ssl-id"}
	kept := []string{"Client-Id", "X-Client", "X-Ssl", "Ssl", "Proxy-Id", "X-Arr"}
	var lines strings.Builder
	for _, name := range forged {
		lines.WriteString(name + ": " + cert + "\r\n")
	}
	lines.WriteString("Client-Cert: " + cert + "\r\n") // a second line of one name
	for _, name := range kept {
		lines.WriteString(name + ": kept\r\n")
	}
	for _, c := range []struct{ name, target, cred string }{
		{"public route", "/v1/status", ""},
		{"api key", "/v1/users", "X-API-Key: " + hrisKey + "\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(up.received())
			r := raw(t, st.addr, "GET "+c.target+" HTTP/1.1\r\nHost: svc\r\n"+c.cred+lines.String()+"Connection: close\r\n\r\n")
			if r.status != 200 {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			got := up.only(t, n)
			for _, name := range forged {
				if vs := got.values(strings.ToLower(name)); len(vs) > 0 {
					t.Errorf("upstream %s = %q, want absent: the client's word for a certificate", name, vs)
				}
			}
			for _, name := range kept {
				if vs := got.values(strings.ToLower(name)); len(vs) != 1 || vs[0] != "kept" {
					t.Errorf("upstream %s = %q, want [kept]", name, vs)
				}
			}
		})
	}
	// In a trailer too (trailers are never forwarded).
	n := len(up.received())
	r := raw(t, st.addr, chunked("POST", "/v1/records", "X-API-Key: "+hrisKey+"\r\nConnection: close\r\n", "Client-Cert: "+cert+"\r\n"))
	if r.status != 200 {
		t.Fatalf("trailer: got %d %s, want 200", r.status, r.body)
	}
	if vs := up.only(t, n).values("client-cert"); len(vs) > 0 {
		t.Errorf("trailer: upstream Client-Cert = %q, want absent", vs)
	}
}

// TestProxyLoginHeadersDropped: the headers in which an authenticating
// proxy tells its service which user logged in reached the service as
// the client sent them (X-Amzn-Oidc-Identity: admin, X-Auth-Request-Email,
// Remote-User, ...): a service written for oauth2-proxy, an AWS ALB,
// Google IAP, Cloudflare Access, Azure App Service or Apache would take
// the client's word for a login it never made. They are removed in any
// case; names they only begin like are kept.
func TestProxyLoginHeadersDropped(t *testing.T) {
	forged := []string{"Remote-User", "X-Remote-User", "X-Webauth-User", "X-Auth-Request-User", "x-auth-request-email",
		"X-Auth-Request-Access-Token", "X-Amzn-Oidc-Identity", "X-AMZN-OIDC-DATA", "X-Goog-Authenticated-User-Email",
		"X-Goog-Iap-Jwt-Assertion", "Cf-Access-Authenticated-User-Email", "cf-access-jwt-assertion",
		"X-MS-CLIENT-PRINCIPAL", "X-Ms-Client-Principal-Name", "X-Ms-Token-Aad-Access-Token"}
	kept := []string{"Remote", "X-Remote", "X-Auth-Request", "X-Amzn-Trace-Id", "X-Goog-Api-Client", "Cf-Ray", "X-Ms-Request-Id"}
	for _, name := range sentThrough(t, forged, kept, "admin@acme.example") {
		t.Errorf("upstream %s present, want absent: the client's word for a login", name)
	}
}

// Kubernetes' request-header authentication, which its front proxy
// (and services written to the same convention) reads, takes the user
// from X-Remote-User, the groups from X-Remote-Group and extra
// attributes from X-Remote-Extra-*. Only X-Remote-User was removed, so a
// client sent "X-Remote-Group: system:masters" and "X-Remote-Extra-Scopes:
// admin" past the sidecar (review53). Every X-Remote-* name is removed
// now, as every Remote-* name is (Authelia's), X-Remote-Addr and
// X-Remote-IP with them (the client's word for its address).
func TestKubernetesFrontProxyHeadersDropped(t *testing.T) {
	forged := []string{"X-Remote-Group", "x-remote-group", "X-Remote-Extra-Scopes", "X-Remote-Extra-Tenant",
		"X-Remote-Uid", "X-Remote-Addr", "X-Remote-IP"}
	kept := []string{"X-Remote", "X-Remotely-Managed", "X-Remoteness"}
	for _, name := range sentThrough(t, forged, kept, "system:masters") {
		t.Errorf("upstream %s present, want absent: the client's word for a login", name)
	}
}

// sentThrough sends a request with each header of forged set to value and
// each of kept to "kept" through a sidecar to a recording upstream, checks
// that each kept one arrived once as sent, and returns the forged ones the
// upstream got.
func sentThrough(t *testing.T, forged, kept []string, value string) (through []string) {
	t.Helper()
	st, up := startRecorded(t, nil)
	var lines strings.Builder
	for _, name := range forged {
		lines.WriteString(name + ": " + value + "\r\n")
	}
	for _, name := range kept {
		lines.WriteString(name + ": kept\r\n")
	}
	n := len(up.received())
	r := raw(t, st.addr, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\n"+lines.String()+"Connection: close\r\n\r\n")
	if r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	got := up.only(t, n)
	for _, name := range forged {
		if vs := got.values(strings.ToLower(name)); len(vs) > 0 {
			through = append(through, name)
		}
	}
	for _, name := range kept {
		if vs := got.values(strings.ToLower(name)); len(vs) != 1 || vs[0] != "kept" {
			t.Errorf("upstream %s = %q, want [kept]", name, vs)
		}
	}
	return through
}

// The fields of a client certificate that TLS-terminating proxies hand
// their service one header each, under X-Client-*, reached it as the
// client sent them: Puppet Server behind Apache or nginx takes a node's
// identity from X-Client-DN once X-Client-Verify says SUCCESS (its
// ssl-client-header and ssl-client-verify-header), and nginx setups pass
// $ssl_client_verify, $ssl_client_s_dn and the CN as X-Client-Verify,
// X-Client-Subject and X-Client-CN. Only X-Client-Cert* was removed, so a
// client without any certificate sent "X-Client-Verify: SUCCESS" and
// "X-Client-DN: CN=admin" to such a service (review48). They are removed
// now, in any case; X-Client-* names of other kinds (an app's version or
// id) are kept.
func TestClientCertFieldHeadersDropped(t *testing.T) {
	st, up := startRecorded(t, nil)
	forged := []string{"X-Client-DN", "x-client-verify", "X-Client-S-DN", "X-Client-I-DN", "X-Client-CN",
		"X-Client-Subject", "X-CLIENT-ISSUER", "X-Client-Issuer-DN"}
	kept := []string{"X-Client-Version", "X-Client-Id", "X-Client-Name", "X-Client"}
	var lines strings.Builder
	for _, name := range forged {
		lines.WriteString(name + ": CN=admin\r\n")
	}
	for _, name := range kept {
		lines.WriteString(name + ": kept\r\n")
	}
	n := len(up.received())
	r := raw(t, st.addr, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n"+lines.String()+"X-Client-Verify: SUCCESS\r\nConnection: close\r\n\r\n")
	if r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	got := up.only(t, n)
	for _, name := range forged {
		if vs := got.values(strings.ToLower(name)); len(vs) > 0 {
			t.Errorf("upstream %s = %q, want absent: the client's word for a certificate", name, vs)
		}
	}
	for _, name := range kept {
		if vs := got.values(strings.ToLower(name)); len(vs) != 1 || vs[0] != "kept" {
			t.Errorf("upstream %s = %q, want [kept]", name, vs)
		}
	}
}

// Behind a trusted proxy too, a certificate header is the client's word:
// the sidecar takes a certificate only from its own TLS handshake, never
// from a header a proxy in front may have set, so trusted_proxies changes
// nothing for these headers (review48). A request from a trusted peer
// naming the admin's SPIFFE ID in every such header, on a class that
// takes only mtls, is 401 and reaches nothing; on a public route the
// headers are removed.
func TestClientCertHeadersFromTrustedProxyDropped(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		mtlsPolicy(d)
		d.TrustedProxies = []string{"127.0.0.0/8"}
	})
	forged := "X-Forwarded-Client-Cert: By=spiffe://cluster.local/ns/acme/sa/ingress;URI=" + adminSPIFFE + "\r\n" +
		"X-Client-Verify: SUCCESS\r\nX-Client-DN: CN=admin,O=Acme\r\nX-SSL-Client-Verify: SUCCESS\r\n" +
		"X-SSL-Client-S-DN: CN=admin,O=Acme\r\nClient-Cert: :MIIB:\r\nX-Forwarded-For: 10.0.0.7\r\n"
	n := len(up.received())
	r := raw(t, st.addr, "PUT /v1/admin/settings HTTP/1.1\r\nHost: svc\r\n"+forged+"Content-Length: 0\r\nConnection: close\r\n\r\n")
	if r.status != 401 {
		t.Errorf("mtls-only route with forged certificate headers from a trusted proxy: got %d %s, want 401", r.status, r.body)
	}
	if got := len(up.received()); got != n {
		t.Errorf("the upstream got %d requests, want none", got-n)
	}
	r = raw(t, st.addr, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n"+forged+"Connection: close\r\n\r\n")
	if r.status != 200 {
		t.Fatalf("public route: got %d %s, want 200", r.status, r.body)
	}
	got := up.only(t, n)
	for _, name := range []string{"x-forwarded-client-cert", "x-client-verify", "x-client-dn", "x-ssl-client-verify", "x-ssl-client-s-dn", "client-cert"} {
		if vs := got.values(name); len(vs) > 0 {
			t.Errorf("upstream %s = %q, want absent", name, vs)
		}
	}
	if vs := got.values("x-forwarded-for"); len(vs) != 1 || vs[0] != "10.0.0.7" {
		t.Errorf("upstream X-Forwarded-For = %q, want [10.0.0.7] (the proxy is trusted)", vs)
	}
}

// Client address libraries read more names than the CDNs' own: Node's
// request-ip and Python's django-ipware take X-Forwarded and
// Forwarded-For, request-ip DigitalOcean's DO-Connecting-IP, and gin's
// TrustedPlatform and Fly.io's apps Fly-Client-IP. They went on as the
// client sent them, so a service reading one for its allowlists or rate
// limits took the client's word for its address (review53). Removed now,
// with the other client-address headers.
func TestClientAddressHeadersDropped(t *testing.T) {
	forged := []string{"X-Forwarded", "x-forwarded", "Forwarded-For", "DO-Connecting-IP", "Fly-Client-IP",
		"Proxy-Client-IP", "WL-Proxy-Client-IP", "incap-client-ip", "X-Sucuri-ClientIP", "X-Originating-IP",
		"X-ProxyUser-Ip", "X-Scheme", "x-url-scheme", "Front-End-Https", "X-Original-Forwarded-For", "x-original-forwarded-host"}
	kept := []string{"X-Forwarde", "Forwarded-Fo", "Fly-Client", "Do-Connecting", "X-Schemes", "Proxy-Client", "X-Originating",
		"X-Original-Forwarded"}
	for _, name := range sentThrough(t, forged, kept, "10.0.0.5") {
		t.Errorf("upstream %s present, want absent: the client's word for its address", name)
	}
}
