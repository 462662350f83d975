package dataplane

import (
	"bytes"

	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// Named tenant parameters and cookies. A route binding {tenant} refuses
// a parameter and a cookie named tenant (tenantparam.go,
// tenantcookie.go), but a service may read its tenant under another name
// (?tenant_id=, ?tenantId=, ?org=, an org_id cookie), which went on as
// the client wrote it. The policy's tenant_params and tenant_cookies name
// them, and on such a route a request carrying one is refused (400) as a
// tenant parameter is, whatever its value: which would the service read?
// A name is read as cookieNamed reads a refuse_cookies name (any case,
// '+' and %XX escapes, PHP's '.', ' ' and '[' for '_', "name[]", Rack's
// "[name]"). Parameters are looked for in the query, in a form body
// (urlencoded, or without a Content-Type, which Rack parses as a form)
// and among a JSON body's top-level members (jsonNamed); a multipart
// body is not read for them.

// tenantRefused reports whether a request to a route binding {tenant}
// carries a tenant cookie (tenantcookie.go) or a parameter or cookie the
// policy names (tenantNamesRefused); raw is the request's head, body
// whether it has one. decide calls it on one line: its hot calls keep
// their offsets in the checked-in profile.
func tenantRefused(x *exchange, req *fasthttp.Request, raw []byte, body bool) bool {
	return x.hdr.cookie && tenantCookies(raw) || tenantNamesRefused(x.snap, req, x.query, raw, body, x.hdr.cookie)
}

// tenantNamesRefused reports whether a request to a route binding
// {tenant} carries a parameter snap.TenantParams names, in its query q or,
// with hasBody, its form body, or, with cookie (a Cookie line came in), a
// cookie snap.TenantCookies names in a Cookie line of raw, a head
// scanHeaders passed. A policy naming neither costs two compares.
func tenantNamesRefused(snap *policy.Snapshot, req *fasthttp.Request, q, raw []byte, hasBody, cookie bool) bool {
	return snap != nil && (len(snap.TenantParams) > 0 && tenantParamsIn(snap.TenantParams, req, q, hasBody) ||
		cookie && len(snap.TenantCookies) > 0 && tenantCookiesIn(snap.TenantCookies, raw))
}

// tenantParamsIn reports whether q, or with hasBody a form body of req,
// has a field named one of wants (lower case).
func tenantParamsIn(wants []string, req *fasthttp.Request, q []byte, hasBody bool) bool {
	if formNamed(q, wants) {
		return true
	}
	if !hasBody {
		return false
	}
	ct := req.Header.ContentType()
	if mt := mediaType(ct); len(mt) == 0 || foldPrefix(mt, "application/x-www-form-urlencoded") {
		return formNamed(req.Body(), wants)
	}
	return jsonType(ct) && jsonNamed(req.Body(), wants)
}

// jsonNamed reports whether a JSON body is an object with a member whose
// name, its escapes decoded, is one of wants (lower case) in any case:
// Laravel's input() and Express's req.body read a JSON body's members as
// parameters, and ASP.NET Core binds them without case. A nested
// object's members are not read (a service reads them under a path, not
// by the name); a body that is not an object, or stops being JSON, is
// read as far as it is one, as overrideJSON reads it.
func jsonNamed(b []byte, wants []string) bool {
	i := 0
	if bytes.HasPrefix(b, utf8BOM) {
		i = len(utf8BOM)
	}
	i = skipJSONIgnore(b, i)
	if i == len(b) || b[i] != '{' {
		return false
	}
	for i++; ; i++ { // i is at '{' or ','
		i = skipJSONIgnore(b, i)
		if i == len(b) || b[i] != '"' {
			return false
		}
		var name [policy.MaxRefuseCookieLen]byte
		var n int
		if i, n = jsonKey(b, i+1, name[:]); i < 0 {
			return false
		}
		if n <= len(name) && nameIn(name[:n], wants) {
			return true
		}
		if i = skipJSONIgnore(b, i); i == len(b) || b[i] != ':' {
			return false
		}
		if i = skipJSONValue(b, skipJSONIgnore(b, i+1)); i < 0 {
			return false
		}
		if i = skipJSONIgnore(b, i); i == len(b) || b[i] != ',' {
			return false
		}
	}
}

// nameIn reports whether name is one of wants (lower case), its letters
// in any case.
func nameIn(name []byte, wants []string) bool {
	for _, w := range wants {
		if len(name) == len(w) && cookieBytesAre(name, w, false) {
			return true
		}
	}
	return false
}

// formNamed reports whether a query string or urlencoded form, its
// fields split at '&' and ';', has a field whose name (up to its '=', or
// the whole field) is one of wants (nameOf).
func formNamed(form []byte, wants []string) bool {
	for len(form) > 0 {
		f := form
		if i := bytes.IndexAny(form, "&;"); i >= 0 {
			f, form = form[:i], form[i+1:]
		} else {
			form = nil
		}
		if i := bytes.IndexByte(f, '='); i >= 0 {
			f = f[:i]
		}
		if nameOf(f, wants) != 0 {
			return true
		}
	}
	return false
}

// tenantCookiesIn reports whether a Cookie line of raw names one of
// wants (lower case), read as cookieNamed reads names.
func tenantCookiesIn(wants []string, raw []byte) bool {
	return cookieLines(raw, func(v []byte) bool { return cookieNamed(v, wants) != 0 })
}
