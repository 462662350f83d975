package dataplane

import "bytes"

// Tenant cookies. A route that binds {tenant} refuses a tenant parameter
// (tenantparam.go), and a cookie of such a name too: multi-tenant
// frameworks resolve the tenant from one. ABP runs its resolvers in the
// order query string, form, route, header, cookie, the first that finds
// a tenant deciding, and its route resolver reads the route value named
// __tenant only; on a service whose template names the segment {tenant},
// as the policy does, the route gives it nothing, the __tenant header is
// refused for its '_', and the __tenant cookie chose the tenant its data
// filters scope every query to, ahead of a resolver the service adds to
// read X-Portcullis-Tenant (added resolvers run last). ASP.NET
// Boilerplate reads an Abp.TenantId cookie (its header is refused for
// its '.') for every caller it did not authenticate itself, which behind
// the sidecar is every caller. A browser front end that keeps a tenant
// in such a cookie scopes it (its Path) away from the routes that bind
// the tenant in their path, which name it there anyway.

// tenantCookie reports whether a Cookie header value names a cookie as
// a tenant parameter is named (tenantField: "tenant", "__tenant", in any
// case, escaped), as a tenant_cookies name tenant would be (nameOf), or
// Abp.TenantId (in any case, escaped: abpTenantID). Its names are read
// as cookieNamed reads them (cookieNames): the walk was written twice,
// and this one dropped only spaces and tabs around a name, so
// "a=1;tenant\xa0=globex" was tenant to Express and Django and nothing
// here (TestTenantCookieBlanksRefused).
func tenantCookie(v []byte) bool {
	return cookieNames(v, tenantCookieName)
}

// tenantCookieName reports whether a cookie name is a tenant cookie's.
func tenantCookieName(name []byte) bool {
	return len(name) >= len(tenantName) && (tenantField(name) || nameOf(name, tenantWants) != 0 || abpTenantID(name))
}

// abpTenantID reports whether a cookie name, its escapes decoded as
// tenantField decodes them, is Abp.TenantId in any case: ASP.NET Core 2
// unescaped a cookie's name (Abp%2ETenantId was Abp.TenantId to ASP.NET
// Boilerplate), as __tenant's escapes are decoded for ABP.
func abpTenantID(name []byte) bool {
	const want = "abp.tenantid"
	var d [len(want) + 1]byte
	n := decodeHead(d[:], name)
	return n == len(want) && foldEqual(d[:n], want)
}

// tenantCookies reports whether a Cookie line of a raw head that
// scanHeaders passed names a tenant cookie. Only a route that binds
// {tenant} asks, and only when a Cookie line came in
// (requestHeaders.cookie): the cookies of every other request are not
// read, which is most of a browser's traffic.
func tenantCookies(raw []byte) bool {
	return cookieLines(raw, tenantCookie)
}

// cookieLines calls f with the value of each Cookie line of raw, a head
// scanHeaders passed, without the line's CR, until f returns true, and
// reports whether one did.
func cookieLines(raw []byte, f func(v []byte) bool) bool {
	const name = "cookie:"
	for len(raw) > 0 {
		var line []byte
		line, raw, _ = bytes.Cut(raw, []byte{'\n'})
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1] // the line's end, not its value's (aspNetNames reads a pair to its end)
		}
		if len(line) >= len(name) && foldEqual(line[:len(name)], name) && f(line[len(name):]) {
			return true
		}
	}
	return false
}
