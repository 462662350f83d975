package dataplane

import "bytes"

// Tenant parameters. A route whose template has {tenant} binds that
// segment of the path to the caller's tenant (authorize.go), but services
// read the tenant from a parameter of that name too, and some prefer the
// parameter: Laravel's $request->tenant takes the request's input (query,
// form or JSON body) before the route's parameter, ASP.NET Core binds an
// action's tenant argument from a form field before the route value,
// ignoring case, and Spring binds a @ModelAttribute object's tenant from
// the request's parameters, adding the path's variable only when they
// lack one (ExtendedServletRequestDataBinder). So on such a route a
// tenant parameter in the query or a body is refused, whatever its value,
// as a method override parameter is (override.go): it cannot be removed
// without rewriting the request, and which of the two would the service
// read?

// tenantName is the name of the route parameter that binds the caller's
// tenant (policy.TenantParam), without its braces.
const tenantName = "tenant"

// tenantField reports whether a parameter name, decoded as frameworks
// decode it ('+' and %XX escapes, leading blanks dropped as PHP drops
// them), is "tenant" in any case, alone or followed by '[' (PHP's
// "tenant[]") or NUL (where PHP ends a name), or is "tenant" to Rack 2's
// nested parser ("[tenant]", rackKey).
func tenantField(name []byte) bool {
	var d [len(tenantName) + 1]byte
	n := decodeHead(d[:], name)
	if n >= len(tenantName) && foldEqual(d[:len(tenantName)], tenantName) &&
		(n == len(tenantName) || d[len(tenantName)] == '[' || d[len(tenantName)] == 0) {
		return true
	}
	return rackKey(name, tenantName)
}

// tenantPart reports whether a multipart part's name parameter value is a
// tenant parameter's, as read or with its backslash escapes undone as Rack
// undoes them.
func tenantPart(v []byte) bool {
	return tenantField(v) || bytes.IndexByte(v, '\\') >= 0 && tenantField(unescapeHead(v, ""))
}
