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

// Names that make tenant a property of an object are tenant parameters
// too. ASP.NET Core and MVC 5 bind a complex action parameter q (a
// UserQuery with a Tenant property) from "q.Tenant" once any value
// provider holds the prefix "q", and never look at the route's "tenant"
// then; their jQuery form providers read "q[tenant]" as "q.tenant", and
// MVC 5's JSON provider flattens {"q":{"tenant":...}} into "q.tenant",
// ahead of the route's data. So a name whose last part (split at '.', '['
// and ']', index numbers and empty "[]" skipped) is tenant is refused,
// and in a JSON body a member named so at any depth (tenantJSON).
// "tenant_id", "tenant.name" and "q[tenants]" go on.
//
// Leading underscores do not count in a part: ABP, a multi-tenant
// framework for ASP.NET Core, resolves the current tenant from a
// "__tenant" query parameter first, then a form field, and only then from
// the route (TenantResolverConsts.DefaultTenantKey).

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
	return rackKey(name, tenantName) || tenantLast(name)
}

// tenantWants is tenant as the walks that read a list of names take it
// (namedTail).
var tenantWants = []string{tenantName}

// tenantLast reports whether a parameter name, decoded as frameworks
// decode it ('+' and %XX escapes), has tenant, in any case, for its last
// part: "q.tenant", "q[tenant]", "a[0].Tenant", "q[tenant][]". Leading
// underscores do not count in a part (ABP's "__tenant").
func tenantLast(name []byte) bool {
	t := namedTail{wants: tenantWants, underscores: true}
	return t.form(name)
}

// tenantJSON reports whether a JSON body has, at any depth, a member
// whose name, its escapes decoded, is a tenant parameter's by tenantLast's
// rule: MVC 5 flattens nested objects into prefixed names (jsonMember).
func tenantJSON(b []byte) bool {
	t := namedTail{wants: tenantWants, underscores: true}
	return jsonMember(b, &t)
}

// jsonMember reports whether a JSON body has, at any depth, a member
// whose name, its escapes decoded, t reads as named (namedTail.done).
// MVC 5's JSON value provider parses with JavaScriptSerializer, which
// also takes a name in single quotes or none ({ 'tenant': 1 },
// { tenant: 1 }), so every string, in either quotes, and every bare token
// followed by ':' is a member's name. Strings are skipped whole, so a
// string holding JSON is a value and nothing more; in JSON a bare token
// is a number, true, false or null, never followed by ':'. Comments are
// skipped whole, as the json gem Rails uses and Newtonsoft.Json skip them
// (skipJSONIgnore). Linear in the body; a body that is not JSON is
// scanned the same way (stricter). The tenant parameter's walk and a
// tenant_params name's are this one, so that neither reads a member the
// other passes over (TestJSONWalksAgree).
func jsonMember(b []byte, t *namedTail) bool {
	for i := 0; i < len(b); {
		if j := jsonComment(b, i); j > i {
			i = j // its quotes open no string (skipJSONIgnore)
			continue
		}
		t.reset()
		switch q := b[i]; {
		case q == '"' || q == '\'':
			for i++; i < len(b) && b[i] != q; {
				c := b[i]
				i++
				switch {
				case c == '\\' && i < len(b):
					c, i = jsonEscape(b, i)
				case c >= 0x80:
					c = 0xFF
				}
				t.add(c)
			}
			i++ // the closing quote
		case jsonBare(q):
			for ; i < len(b) && jsonBare(b[i]) && jsonComment(b, i) == i; i++ {
				t.add(b[i])
			}
		default:
			i++
			continue
		}
		if j := skipJSONIgnore(b, i); j < len(b) && b[j] == ':' && t.done() {
			return true
		}
	}
	return false
}

// jsonBare reports whether c may be part of a bare token: anything but
// JSON's structure, quotes and blanks.
func jsonBare(c byte) bool {
	switch c {
	case '{', '}', '[', ']', ',', ':', '"', '\'', ' ', '\t', '\r', '\n':
		return false
	}
	return true
}

// tenantPart reports whether a multipart part's name parameter value is a
// tenant parameter's, as read or with its backslash escapes undone as Rack
// undoes them.
func tenantPart(v []byte) bool {
	return tenantField(v) || bytes.IndexByte(v, '\\') >= 0 && tenantField(unescapeHead(v, ""))
}
