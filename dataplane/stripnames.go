package dataplane

import "encoding/binary"

// internalPrefix begins the names of the identity headers the sidecar sets
// for the upstream; any incoming X-Portcullis-* header is removed first,
// so callers cannot forge them.
const internalPrefix = "x-portcullis-"

// forwardedPrefix begins the X-Forwarded-* headers: every one that comes
// in is removed, and X-Forwarded-For is set afresh.
const forwardedPrefix = "x-forwarded-"

// internalName reports whether name starts with X-Portcullis- in any case,
// with '_' for either '-' (a spelling some servers fold into '-').
func internalName(name []byte) bool {
	if len(name) < len(internalPrefix) { // the prefix alone too: a service reading the prefix's names reads it
		return false
	}
	for i := range len(internalPrefix) {
		c := name[i]
		if c == '_' {
			c = '-'
		}
		if c|0x20 != internalPrefix[i] {
			return false
		}
	}
	return true
}

// forwardedName reports whether name is an X-Forwarded-* header.
func forwardedName(name []byte) bool {
	return len(name) >= len(forwardedPrefix) && foldPrefix(name, forwardedPrefix)
}

// droppedName reports whether name is removed by its prefix: an
// X-Forwarded-* or a header of a proxy naming the client (proxyName).
func droppedName(name []byte) bool {
	return forwardedName(name) || proxyName(name)
}

// proxyName reports whether name, in any case, is a header in which a
// proxy in front of a service tells it who the client is, which the
// sidecar never sets: the client's certificate, as TLS-terminating proxies
// hand it on, in Client-Cert and Client-Cert-Chain (RFC 9440, whose
// section 4 says such a proxy must remove or overwrite those a request
// brings), X-Client-Cert* (Google Cloud's load balancers and many others)
// and the certificate's fields one header each (clientCertField:
// X-Client-DN, X-Client-Verify, ...),
// X-SSL-* (nginx and HAProxy setups), Ssl-Client-* (ingress-nginx),
// X-Amzn-Mtls-* (AWS ALB), X-ARR-ClientCert (IIS ARR, the default of
// ASP.NET Core's certificate forwarding), Cf-Client-Cert* (Cloudflare)
// and Jetty's Proxy-Auth-Cert and Proxy-Ssl-Id (ForwardedRequestCustomizer);
// or the user an authenticating proxy or gateway logged in, and what it
// may do, in Remote-User and X-Remote-* (Apache, and Kubernetes'
// front-proxy: X-Remote-User, -Group, -Extra-*; X-Remote-Addr with them),
// Remote-* (Authelia's Remote-Groups, -Name, -Email),
// X-Consumer-*, X-Credential-Identifier (X-Credential-Username before
// Kong 3), X-Anonymous-Consumer, X-Authenticated-* (Scope, Userid) and
// X-Userinfo (Kong), Impersonate-* (Kubernetes' impersonation: User,
// Group, Uid, Extra-*, which a service calling the API server with an
// account allowed to impersonate would pass on as the client's),
// X-Authentik-* (authentik), X-Pomerium-* (Pomerium),
// X-Endpoint-Api-Userinfo and X-Apigateway-Api-Userinfo (Google Cloud
// Endpoints, API Gateway), X-Jwt-Assertion (WSO2), X-Webauth-User
// (Grafana's auth proxy), X-Auth-Request-* (oauth2-proxy), X-Amzn-Oidc-*
// (AWS ALB), X-Goog-Authenticated-User-* and X-Goog-Iap-Jwt-Assertion
// (Google IAP), Cf-Access-* (Cloudflare Access), X-Ms-Client-Principal*
// and X-Ms-Token-* (Azure App Service), Gatekeeper's and nginx-jwt's
// X-Auth-* identity fields (authProxyField), X-Vouch-* (Vouch Proxy's
// X-Vouch-User and X-Vouch-Idp-Claims-*), Tailscale-User-* and
// Tailscale-App-Capabilities (tailscale serve), IBM WebSEAL's iv-user,
// iv-groups, iv-creds and iv-remote-address, caddy-security's
// X-Token-Subject and X-Token-User-* (Name, Email, Roles), caddy-jwt's
// Token-Claim-* (a header per claim) and AWS Verified Access's
// X-Amzn-Ava-* (x-amzn-ava-user-context, its signed claims); or that the platform in front sent
// the request, or the client's address: X-Appengine-* (App Engine's user,
// admin and cron headers), X-Cloudtasks-* (Cloud Tasks), X-Envoy-*
// (X-Envoy-Internal, X-Envoy-External-Address), X-Azure-* (Front Door's
// X-Azure-FDID and client address), CloudFront-* (CloudFront-Viewer-Address),
// CF-Connecting-IPv6 and Cf-Pseudo-IPv4 (Cloudflare). One that reached the
// service would be the client's word for a certificate it never presented,
// a login it never made or a platform that never saw it, taken for its
// identity by a service written for one of those proxies. X-Forwarded-Client-Cert (Envoy), X-Forwarded-Tls-Client-Cert
// (Traefik) and X-Forwarded-User go as X-Forwarded-*. Names are told apart
// by their first two bytes, so most headers cost a switch.
func proxyName(name []byte) bool {
	return len(name) >= len("x-ssl-") && proxyFirst[name[0]] && proxyNameFrom(name)
}

// proxyFirst marks the first bytes of the names proxyName looks for, in
// either case: Host, User-Agent, Accept and most others cost one load.
var proxyFirst = func() (t [256]bool) {
	for _, c := range "cCsSpPrRxXtTiI" {
		t[c] = true
	}
	return t
}()

// proxyNameFrom is proxyName past its first byte's check: the name is
// told apart by its first four bytes, in one switch. The cases are
// constants (a name's first four bytes as a big-endian word), so the
// compiler searches them in halves; cases it cannot evaluate (a call such
// as word4("clie"), even inlined) are compared one by one, in order, and
// X-API-Key passed twenty of them on every request (issue 18: 29 fewer
// instructions a decision in BenchmarkDecide).
func proxyNameFrom(name []byte) bool {
	switch binary.BigEndian.Uint32(name) | 0x20202020 { // '-' | 0x20 is '-'
	case 'c'<<24 | 'l'<<16 | 'i'<<8 | 'e':
		return foldPrefix(name, "client-cert")
	case 'c'<<24 | 'l'<<16 | 'o'<<8 | 'u':
		return foldPrefix(name, "cloudfront-")
	case 's'<<24 | 's'<<16 | 'l'<<8 | '-':
		return foldPrefix(name, "ssl-client-")
	case 'c'<<24 | 'f'<<16 | '-'<<8 | 'c':
		return foldPrefix(name, "cf-client-cert") || foldPrefix(name, "cf-connecting-ip")
	case 'c'<<24 | 'f'<<16 | '-'<<8 | 'p':
		return foldPrefix(name, "cf-pseudo-ipv4")
	case 'c'<<24 | 'f'<<16 | '-'<<8 | 'a':
		return foldPrefix(name, "cf-access-")
	case 'p'<<24 | 'r'<<16 | 'o'<<8 | 'x':
		return foldPrefix(name, "proxy-auth-cert") || foldPrefix(name, "proxy-ssl-id")
	case 'r'<<24 | 'e'<<16 | 'm'<<8 | 'o':
		return foldPrefix(name, "remote-")
	case 'x'<<24 | '-'<<16 | 'c'<<8 | 'l':
		return foldPrefix(name, "x-client-cert") || foldPrefix(name, "x-cloudtasks-") || clientCertField(name)
	case 'x'<<24 | '-'<<16 | 's'<<8 | 's':
		return foldPrefix(name, "x-ssl-")
	case 'x'<<24 | '-'<<16 | 'a'<<8 | 'm':
		return foldPrefix(name, "x-amzn-mtls-") || foldPrefix(name, "x-amzn-oidc-") || foldPrefix(name, "x-amzn-ava-")
	case 'x'<<24 | '-'<<16 | 'a'<<8 | 'r':
		return foldPrefix(name, "x-arr-clientcert")
	case 'x'<<24 | '-'<<16 | 'a'<<8 | 'u':
		return foldPrefix(name, "x-auth-request-") || foldPrefix(name, "x-authenticated-") || foldPrefix(name, "x-authentik-") ||
			authProxyField(name)
	case 'x'<<24 | '-'<<16 | 'v'<<8 | 'o':
		return foldPrefix(name, "x-vouch-")
	case 'x'<<24 | '-'<<16 | 't'<<8 | 'o':
		return foldPrefix(name, "x-token-subject") || foldPrefix(name, "x-token-user-")
	case 't'<<24 | 'o'<<16 | 'k'<<8 | 'e':
		return foldPrefix(name, "token-claim-")
	case 't'<<24 | 'a'<<16 | 'i'<<8 | 'l':
		return foldPrefix(name, "tailscale-user-") || foldPrefix(name, "tailscale-app-capabilities")
	case 'i'<<24 | 'v'<<16 | '-'<<8 | 'u', 'i'<<24 | 'v'<<16 | '-'<<8 | 'g', 'i'<<24 | 'v'<<16 | '-'<<8 | 'c', 'i'<<24 | 'v'<<16 | '-'<<8 | 'r':
		return foldPrefix(name, "iv-user") || foldPrefix(name, "iv-groups") || foldPrefix(name, "iv-creds") ||
			foldPrefix(name, "iv-remote-address")
	case 'x'<<24 | '-'<<16 | 'c'<<8 | 'o':
		return foldPrefix(name, "x-consumer-")
	case 'x'<<24 | '-'<<16 | 'c'<<8 | 'r':
		return foldPrefix(name, "x-credential-identifier") || foldPrefix(name, "x-credential-username")
	case 'i'<<24 | 'm'<<16 | 'p'<<8 | 'e':
		return foldPrefix(name, "impersonate-")
	case 'x'<<24 | '-'<<16 | 'a'<<8 | 'n':
		return foldPrefix(name, "x-anonymous-consumer")
	case 'x'<<24 | '-'<<16 | 'u'<<8 | 's':
		return foldPrefix(name, "x-userinfo")
	case 'x'<<24 | '-'<<16 | 'p'<<8 | 'o':
		return foldPrefix(name, "x-pomerium-")
	case 'x'<<24 | '-'<<16 | 'e'<<8 | 'n':
		return foldPrefix(name, "x-endpoint-api-userinfo") || foldPrefix(name, "x-envoy-")
	case 'x'<<24 | '-'<<16 | 'a'<<8 | 'z':
		return foldPrefix(name, "x-azure-")
	case 'x'<<24 | '-'<<16 | 'a'<<8 | 'p':
		return foldPrefix(name, "x-apigateway-api-userinfo") || foldPrefix(name, "x-appengine-")
	case 'x'<<24 | '-'<<16 | 'j'<<8 | 'w':
		return foldPrefix(name, "x-jwt-assertion")
	case 'x'<<24 | '-'<<16 | 'r'<<8 | 'e':
		return foldPrefix(name, "x-remote-") // X-Remote-User, -Group, -Extra-* (Kubernetes' request-header authentication)
	case 'x'<<24 | '-'<<16 | 'w'<<8 | 'e':
		return foldPrefix(name, "x-webauth-user")
	case 'x'<<24 | '-'<<16 | 'g'<<8 | 'o':
		return foldPrefix(name, "x-goog-authenticated-user-") || foldPrefix(name, "x-goog-iap-jwt-assertion")
	case 'x'<<24 | '-'<<16 | 'm'<<8 | 's':
		return foldPrefix(name, "x-ms-client-principal") || foldPrefix(name, "x-ms-token-")
	}
	return false
}

// authProxyField reports whether name, in any case, is one of the
// X-Auth-* headers in which an authenticating proxy hands its service the
// login it checked: Keycloak's Gatekeeper (Louketo Proxy, gogatekeeper)
// sets X-Auth-Userid, -Username, -Email, -Subject, -Roles, -Groups,
// -Audience and -ExpiresIn; nginx-jwt and gateways whose Spring services
// grant the authorities X-Auth-Roles lists use X-Auth-User, -UserId and
// -Role. X-Auth-Token and X-Auth-Key are not among them: a service that
// reads one (OpenStack's Keystone middleware, Swift) checks it itself.
func authProxyField(name []byte) bool {
	return prefixedField(name, "x-auth-", "user", "email", "subject", "role", "groups", "audience", "expiresin")
}

// clientCertField reports whether name, in any case, is a header in which
// a TLS-terminating proxy hands its service one field of the client's
// certificate under X-Client-: the names beginning X-Client-DN,
// -S-DN, -I-DN, -CN, -Verify, -Subject or -Issuer. Puppet
// Server takes a node's identity from X-Client-DN once X-Client-Verify
// says SUCCESS; nginx setups pass $ssl_client_verify and $ssl_client_s_dn
// so (TestClientCertFieldHeadersDropped). Other X-Client-* names (an
// app's version or id) are not the sidecar's to remove.
func clientCertField(name []byte) bool {
	return prefixedField(name, "x-client-", "dn", "cn", "s-dn", "i-dn", "verify", "subject", "issuer")
}

// prefixedField reports whether name, in any case, is prefix followed by
// a name beginning with one of fields (lower case, as foldPrefix takes).
func prefixedField(name []byte, prefix string, fields ...string) bool {
	if !foldPrefix(name, prefix) {
		return false
	}
	f := name[len(prefix):]
	for _, w := range fields {
		if foldPrefix(f, w) {
			return true
		}
	}
	return false
}
