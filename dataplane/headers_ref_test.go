package dataplane

import (
	"bytes"
	"strings"
	"testing"
)

// scanHeadersRef is scanHeaders as it was before issue 18 made it faster,
// kept as the reference FuzzScanHeadersSame compares it with: a
// byte-by-byte reading that compares names by length, then byte by byte.
func scanHeadersRef(raw []byte, h *requestHeaders) bool {
	var cl, te, authz, apiKey, reqID, host, approvals, stripped, tenants int
	ok := true
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '\n':
			i++
			continue
		case '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i += 2
				continue
			}
			return false
		case ' ', '\t':
			return false // obs-fold
		}
		start := i
		for i < len(raw) && tokenByte[raw[i]] {
			i++
		}
		if i == len(raw) || i == start || raw[i] != ':' {
			return false // not a token, '_', or no colon
		}
		name := raw[start:i]
		i++
		end := bytes.IndexByte(raw[i:], '\n')
		if end < 0 {
			end = len(raw) - i
		}
		value := raw[i : i+end] // trimmed only where it is kept
		i += end + 1
		if len(name) >= len(forwardedPrefix) && name[1] == '-' && name[0]|0x20 == 'x' {
			if internalName(name) {
				h.internal = true
				stripped++
				if len(name) == len(hdrApproval) && foldEqual(name, "x-portcullis-approval") {
					approvals++
					h.approval = trimOWS(value)
				}
				continue
			}
			if foldPrefix(name, forwardedPrefix) {
				h.dropped = true
				stripped++
				h.xff = h.xff || len(name) == len("X-Forwarded-For") && foldEqual(name, "x-forwarded-for")
				continue
			}
		}
		if proxyNameRef(name) {
			h.dropped = true
			stripped++
			continue
		}
		for _, t := range []string{"tenant", "x-tenant", "tenantid", "tenant-id", "x-tenantid", "x-tenant-id"} {
			if foldEqual(name, t) {
				tenants++
				h.tenant, h.tenantHdr = value, true
			}
		}
		switch len(name) { // compare only names of a length that can match
		case len("Host"):
			if foldEqual(name, "host") {
				host++
				ok = ok && validHost(trimOWS(value))
			}
		case len("Content-Length"): // and X-Original-URL
			if foldEqual(name, "content-length") {
				cl++
			} else {
				h.dropped = h.dropped || foldEqual(name, "x-original-url") || foldEqual(name, "x-original-uri") ||
					foldEqual(name, "true-client-ip")
			}
		case len("X-Original-Host"):
			h.dropped = h.dropped || foldEqual(name, "x-original-host")
		case len("Transfer-Encoding"): // and X-Method-Override
			if foldEqual(name, "transfer-encoding") {
				te++
				h.hop = true
				h.chunked = len(trimOWS(value)) == len("chunked") && foldEqual(trimOWS(value), "chunked")
				ok = ok && h.chunked
			} else {
				h.dropped = h.dropped || foldEqual(name, "x-method-override") || foldEqual(name, "x-original-method")
			}
		case len("Authorization"): // and X-Rewrite-URL, X-HTTP-Method
			if foldEqual(name, "authorization") {
				authz++
				h.authz, h.creds = trimOWS(value), true
			} else {
				h.dropped = h.dropped || foldEqual(name, "x-rewrite-url") || foldEqual(name, "x-http-method") ||
					foldEqual(name, "x-script-name") || foldEqual(name, "forwarded-for") || foldEqual(name, "fly-client-ip")
			}
		case len("X-API-Key"): // and X-Real-IP, Forwarded
			switch {
			case foldEqual(name, "x-api-key"):
				apiKey++
				h.apiKey, h.creds, h.keyHdr = trimOWS(value), true, true
			case foldEqual(name, "forwarded"):
				h.dropped, h.fwd = true, true
			default:
				h.dropped = h.dropped || foldEqual(name, "x-real-ip") || foldEqual(name, "client-ip")
			}
		case len("X-Client-IP"):
			h.dropped = h.dropped || foldEqual(name, "x-client-ip") || foldEqual(name, "x-forwarded")
		case len("X-Original-Forwarded-For"):
			h.dropped = h.dropped || foldEqual(name, "x-original-forwarded-for")
		case len("X-Original-Forwarded-Host"):
			h.dropped = h.dropped || foldEqual(name, "x-original-forwarded-host")
		case len("X-HTTP-Method-Override"):
			h.dropped = h.dropped || foldEqual(name, "x-http-method-override")
		case len("X-Envoy-Original-Path"):
			h.dropped = h.dropped || foldEqual(name, "x-envoy-original-path")
		case len("X-Request-ID"):
			if foldEqual(name, "x-request-id") {
				reqID++
				h.requestID = trimOWS(value)
			}
		case len("Connection"): // and Keep-Alive
			h.hop = h.hop || foldEqual(name, "connection") || foldEqual(name, "keep-alive")
		case len("TE"):
			h.hop = h.hop || foldEqual(name, "te")
		case len("Expect"): // and X-Host, Cookie
			h.expect = h.expect || foldEqual(name, "expect")
			h.dropped = h.dropped || foldEqual(name, "x-host")
			h.cookie = h.cookie || foldEqual(name, "cookie")
		case len("Trailer"): // and Upgrade
			h.hop = h.hop || foldEqual(name, "trailer") || foldEqual(name, "upgrade")
		case len("Proxy-Authenticate"):
			h.hop = h.hop || foldEqual(name, "proxy-authenticate")
		case len("Proxy-Authorization"):
			h.hop = h.hop || foldEqual(name, "proxy-authorization")
			h.dropped = h.dropped || foldEqual(name, "x-cluster-client-ip")
		case len("Proxy-Connection"): // and Content-Encoding
			h.hop = h.hop || foldEqual(name, "proxy-connection")
			h.dropped = h.dropped || foldEqual(name, "cf-connecting-ip") || foldEqual(name, "fastly-client-ip") ||
				foldEqual(name, "do-connecting-ip")
			if foldEqual(name, "content-encoding") {
				h.coded = h.coded || !bytes.EqualFold(trimOWS(value), []byte("identity"))
			}
		}
	}
	return ok && cl <= 1 && te <= 1 && (cl == 0 || te == 0) && authz <= 1 && apiKey <= 1 &&
		authz+apiKey <= 1 && reqID <= 1 && host <= 1 && approvals <= 1 && tenants <= 1 && stripped <= maxStrippedHeaders
}

// proxyPrefixes are the header prefixes proxyName looks for.
var proxyPrefixes = []string{"client-cert", "ssl-client-", "cf-client-cert", "proxy-auth-cert", "proxy-ssl-id",
	"x-client-cert", "x-ssl-", "x-amzn-mtls-", "x-arr-clientcert", "remote-", "x-remote-", "x-webauth-user",
	"x-auth-request-", "x-amzn-oidc-", "x-goog-authenticated-user-", "x-goog-iap-jwt-assertion", "cf-access-",
	"x-ms-client-principal", "x-ms-token-", "x-authenticated-", "x-authentik-", "x-consumer-",
	"x-credential-identifier", "x-credential-username", "impersonate-", "x-anonymous-consumer", "x-userinfo", "x-pomerium-",
	"x-endpoint-api-userinfo", "x-apigateway-api-userinfo", "x-jwt-assertion", "x-appengine-", "x-cloudtasks-", "x-envoy-", "x-azure-",
	"cloudfront-", "cf-connecting-ip", "cf-pseudo-ipv4", "x-client-dn", "x-client-s-dn", "x-client-i-dn",
	"x-client-cn", "x-client-verify", "x-client-subject", "x-client-issuer", "x-auth-user", "x-auth-email",
	"x-auth-subject", "x-auth-role", "x-auth-groups", "x-auth-audience", "x-auth-expiresin", "x-vouch-",
	"tailscale-user-", "tailscale-app-capabilities", "iv-user", "iv-groups", "iv-creds", "iv-remote-address",
	"x-token-subject", "x-token-user-", "token-claim-", "x-amzn-ava-"}

// proxyNameRef is proxyName as a loop over proxyPrefixes.
func proxyNameRef(name []byte) bool {
	for _, p := range proxyPrefixes {
		if len(name) >= len(p) && bytes.EqualFold(name[:len(p)], []byte(p)) {
			return true
		}
	}
	return false
}

// tenantCookiesRef is the tenant cookie check as scanHeaders ran it on
// every line before tenantCookies (tenantCookie on the value of each line
// whose name, a token before its ':', is Cookie), on a block scanHeaders
// passed: tenantCookies, which reads the raw head again only on a route
// binding {tenant}, must find a tenant cookie on each line it found one.
func tenantCookiesRef(raw []byte) bool {
	found := false
	for line := range bytes.Lines(raw) {
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")) // the value ends before the line's CR, as cookieLines reads it
		k := tokenLen(line)
		if k < len(line) && line[k] == ':' && foldEqual(line[:k], "cookie") {
			found = found || tenantCookie(line[k+1:])
		}
	}
	return found
}

// FuzzScanHeadersSame checks that scanHeaders gives the verdict and fills
// the headers exactly as scanHeadersRef does, on any block: the words it
// compares names by are a faster reading of the same check (issue 18).
func FuzzScanHeadersSame(f *testing.F) {
	for _, seed := range scanSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var got, want requestHeaders
		gotOK, wantOK := scanHeaders([]byte(in), &got), scanHeadersRef([]byte(in), &want)
		if gotOK && (got.cookie && tenantCookies([]byte(in))) != tenantCookiesRef([]byte(in)) {
			t.Fatalf("tenant cookie of %q: tenantCookies says %v, the reference %v", in, got.cookie && tenantCookies([]byte(in)), tenantCookiesRef([]byte(in)))
		}
		if gotOK != wantOK || !sameHeaders(&got, &want) {
			t.Fatalf("scanHeaders(%q) = %v, %+v; the reference gives %v, %+v", in, gotOK, got, wantOK, want)
		}
	})
}

// TestScanHeadersSame runs FuzzScanHeadersSame's comparison over the seeds
// and over every name it looks for in several spellings, and their
// neighbours one byte off, which a word compare must tell apart.
func TestScanHeadersSame(t *testing.T) {
	names := []string{"host", "content-length", "x-original-url", "transfer-encoding", "x-method-override",
		"authorization", "x-rewrite-url", "x-http-method", "x-api-key", "forwarded", "x-real-ip",
		"x-http-method-override", "x-request-id", "connection", "keep-alive", "te", "trailer", "upgrade",
		"proxy-authenticate", "proxy-authorization", "proxy-connection", "x-forwarded-for", "x-forwarded-host",
		"x-portcullis-approval", "x-portcullis-tenant", "x-original-uri", "x-original-method",
		"x-original-host", "x-host", "x-envoy-original-path", "x-script-name", "content-encoding", "client-cert", "client-cert-chain",
		"x-client-cert", "x-ssl-client-cert", "x-ssl-", "ssl-client-verify", "x-amzn-mtls-clientcert", "x-arr-clientcert",
		"cf-client-cert-der-base64", "proxy-auth-cert", "proxy-ssl-id", "remote-user", "x-remote-user", "x-remote-group", "x-remote-extra-scopes", "x-auth-request-email",
		"x-amzn-oidc-identity", "x-goog-authenticated-user-email", "cf-access-jwt-assertion", "x-ms-client-principal-name", "x-webauth-user", "remote-groups", "x-authenticated-scope", "x-authentik-groups",
		"x-consumer-id", "x-credential-identifier", "x-credential-username", "impersonate-user", "impersonate-group",
		"impersonate-extra-scopes", "impersonate", "impersonated-by", "x-anonymous-consumer", "x-userinfo", "x-pomerium-claim-email",
		"x-endpoint-api-userinfo", "x-apigateway-api-userinfo", "x-jwt-assertion", "x-appengine-cron", "x-cloudtasks-queuename",
		"x-envoy-internal", "x-azure-fdid", "cloudfront-viewer-address", "cf-connecting-ipv6", "cf-pseudo-ipv4", "x-client-dn", "x-client-s-dn", "x-client-i-dn",
		"x-client-cn", "x-client-verify", "x-client-subject", "x-client-issuer-dn", "x-client-version", "client-ip", "proxy-authorization", "user-agent", "accept", "x", "a-b", "x-forwarded-",
		"x-forwarded", "forwarded-for", "do-connecting-ip", "fly-client-ip", "x-original-forwarded-for", "x-original-forwarded-host",
		"x-auth-userid", "x-auth-username", "x-auth-email", "x-auth-subject", "x-auth-roles", "x-auth-groups",
		"x-auth-audience", "x-auth-expiresin", "x-auth-token", "x-auth-key", "x-vouch-user", "tailscale-user-login",
		"tailscale-app-capabilities", "iv-user", "iv-groups", "iv-creds", "iv-remote-address", "cookie",
		"x-token-subject", "x-token-user-roles", "x-token-username", "token-claim-user", "token-claims", "x-amzn-ava-user-context",
		"tenant", "x-tenant", "tenantid", "tenant-id", "x-tenantid", "x-tenant-id", "x-tenant-name", "tenants"}
	blocks := append([]string(nil), scanSeeds...)
	for _, name := range names {
		for _, v := range []string{name, strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:]} {
			blocks = append(blocks, v+": chunked\r\n", v+":  a:1 \r\n"+v+": b\r\n", "Host: h\r\n"+v+": user@x\r\n\r\n")
			for i := range len(v) {
				for _, c := range []byte{v[i] ^ 0x20, v[i] + 1, v[i] - 1, '-', '0'} {
					w := []byte(v)
					w[i] = c
					blocks = append(blocks, string(w)+": chunked\r\nHost: a\r\n")
				}
			}
		}
	}
	for _, in := range blocks {
		var got, want requestHeaders
		gotOK, wantOK := scanHeaders([]byte(in), &got), scanHeadersRef([]byte(in), &want)
		if gotOK && (got.cookie && tenantCookies([]byte(in))) != tenantCookiesRef([]byte(in)) {
			t.Errorf("tenant cookie of %q: tenantCookies says %v, the reference %v", in, got.cookie && tenantCookies([]byte(in)), tenantCookiesRef([]byte(in)))
		}
		if gotOK != wantOK || !sameHeaders(&got, &want) {
			t.Errorf("scanHeaders(%q) = %v, %+v; the reference gives %v, %+v", in, gotOK, got, wantOK, want)
		}
	}
}

// scanSeeds are header blocks of every kind scanHeaders decides on.
var scanSeeds = []string{
	"Cookie: a=1; __tenant=g\r\ncookie: Abp.TenantId=2\r\nX-Auth-Roles: admin\r\nIV-User: u\r\n",
	"Cookie: a=1\r\nCOOKIE: b=2, Abp%2ETenantId=3\r\n",
	"X-A: 1\nCookie: __Tenant=g\n\r\n",
	"X-Cookie: __tenant=g\r\nCookie2: tenant=1\r\nSet-Cookie: tenant=1\r\n",
	"Cookie: a=1\r\n\r\nCookie: tenant=1\r\n",
	"Host: svc\r\nUser-Agent: bench/1.0\r\nX-API-Key: pk_a_b\r\nAccept: */*\r\n\r\n",
	"Host: a\r\nContent-Length: 3\r\nx-api-key:  k1 \r\nX-Request-Id: r-1\r\n\r\n",
	"Authorization: Bearer t\r\nTransfer-Encoding: Chunked\r\nX-Real-IP: 1\r\n",
	"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
	"X_Forwarded_For: 1.2.3.4\r\n",
	"X-A: 1\r\n folded\r\n",
	"\rX-A: 1\r\n",
	"X-Portcullis-Approval: a\r\nX-Portcullis-Approval: b\r\n",
	"X-Forwarded-For: 1.2.3.4\r\nForwarded: for=1\r\nX-HTTP-Method-Override: PUT\r\n",
	"Connection: close\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nTrailer: X\r\nProxy-Connection: x\r\n",
	"Host: a\r\nHost: b\r\n",
	"Content-Encoding: gzip\r\nContent-Type: application/json\r\n",
	"Content-Encoding:  Identity \r\n",
	"Host: admin:s3cr3t@svc\r\nX-Request-ID: a\r\n",
	"X-A: 1",
	"X-A",
	"X-Tenant:  acme \r\nX-TenantId: globex\r\nTenant-Id: a\r\n",
}

// sameHeaders reports whether a and b hold the same notes and the same
// value bytes.
func sameHeaders(a, b *requestHeaders) bool {
	return bytes.Equal(a.requestID, b.requestID) && bytes.Equal(a.apiKey, b.apiKey) && bytes.Equal(a.authz, b.authz) &&
		bytes.Equal(a.approval, b.approval) && a.internal == b.internal && a.hop == b.hop && a.creds == b.creds &&
		a.keyHdr == b.keyHdr && a.dropped == b.dropped && a.chunked == b.chunked && a.xff == b.xff && a.fwd == b.fwd &&
		a.expect == b.expect && a.coded == b.coded && a.cookie == b.cookie &&
		bytes.Equal(a.tenant, b.tenant) && a.tenantHdr == b.tenantHdr
}
