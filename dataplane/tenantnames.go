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
// "[name]"), and a parameter's also as an object's property, as the
// tenant parameter's is (tenantLast): "q.tenant_id", "q[TenantId]"
// (namedLast). Parameters are looked for in the query, in a form body
// (urlencoded, or without a Content-Type, which Rack parses as a form)
// and among a JSON body's members at any depth, in either quotes or none
// (jsonNamed), and among a multipart body's part names and Content-IDs
// (multipartNamed).

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
	mt := mediaType(ct)
	switch {
	case len(mt) == 0 || foldPrefix(mt, "application/x-www-form-urlencoded"):
		return formNamed(req.Body(), wants)
	case foldPrefix(mt, "multipart/"):
		// A boundary parsers would read differently is refused by
		// overrideParam; without one Rack reads a urlencoded form.
		if b, ok := boundaryParam(ct); ok && b != nil {
			return multipartNamed(req.Body(), b, wants)
		}
		return formNamed(req.Body(), wants)
	}
	return jsonType(ct) && jsonNamed(req.Body(), wants)
}

// multipartNamed reports whether a part of a multipart body has a "name"
// parameter (nameParams) or a Content-ID, which Rack names a part by
// without one (contentIDs), naming one of wants (partValueNamed): PHP
// ($_POST, Laravel's input()), ASP.NET Core's form binding and Express's
// multer read a part's name as a urlencoded field's, and a multipart body
// was not read (TestTenantNamesInMultipartRefused), nor then a Content-ID
// (TestTenantNamesInMultipartContentIDRefused). The parts are walked as
// overrideMultipart walks them (multipartHeads). An RFC 2231 "name*" is
// refused unread.
func multipartNamed(body, boundary []byte, wants []string) bool {
	return multipartHeads(body, boundary, func(h []byte) bool {
		return nameParams(h, func(v []byte, _ bool) bool { return partValueNamed(v, wants) }) ||
			contentIDs(h, func(v []byte) bool { return partValueNamed(v, wants) })
	})
}

// partValueNamed reports whether a part's name value, as read or with
// its backslash escapes undone, is one of wants or has one for its last
// part.
func partValueNamed(v []byte, wants []string) bool {
	if nameOf(v, wants) != 0 || namedLast(v, wants) {
		return true
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return false
	}
	var d [policy.MaxRefuseCookieLen + 1]byte
	n := 0
	for i := 0; i < len(v) && n < len(d); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		d[n] = v[i]
		n++
	}
	return nameOf(d[:n], wants) != 0 || namedLast(d[:n], wants)
}

// jsonNamed reports whether a JSON body has, at any depth, a member
// whose name, its escapes decoded, is one of wants (lower case) in any
// case, whole or as its last part (namedTail), read as tenantJSON reads
// the tenant parameter's (jsonMember): MVC 5's JSON value provider
// flattens {"q":{"TenantId":...}} into "q.TenantId" and binds it to a
// complex parameter q ahead of the route, and takes names in single
// quotes or none; Laravel's input() and Express's req.body read
// top-level members, and ASP.NET Core binds them without case. Reading
// top-level double-quoted members only let {"q":{"tenant_id":...}},
// {'tenant_id':...} and {tenant_id:...} through
// (TestTenantNamesAsPropertiesRefused).
func jsonNamed(b []byte, wants []string) bool {
	t := namedTail{wants: wants}
	return jsonMember(b, &t)
}

// namedLast reports whether a parameter name, decoded as frameworks
// decode it ('+' and %XX escapes, up to a NUL where PHP ends it), has one
// of wants (lower case) for its last part (namedTail): "q.tenant_id",
// "q[TenantId]", "a[0].org", which ASP.NET Core and MVC 5 bind to a
// complex parameter's property, as tenantLast reads tenant's.
func namedLast(name []byte, wants []string) bool {
	t := namedTail{wants: wants}
	return t.form(name)
}

// namedTail follows a name byte by byte and tells whether the whole of
// it, or its last part (split at '.', '[' and ']'; empty parts and index
// numbers do not count as last: "q[tenant][]" and "q[0]" name the part
// before them), is one of wants (lower case) in any case. With
// underscores, a part's leading underscores are no part of it: ABP
// resolves the tenant from "__tenant" (tenantparam.go).
type namedTail struct {
	wants       []string
	underscores bool
	part        [policy.MaxRefuseCookieLen]byte
	whole       [policy.MaxRefuseCookieLen]byte
	n, wn       int  // bytes in the current part and in the whole, which may exceed the arrays
	digits      bool // the current part is all digits so far
	last        bool // the last part that counted is one of wants
}

// reset starts a new name.
func (t *namedTail) reset() {
	t.n, t.wn, t.last = 0, 0, false
}

// form follows a parameter name, decoded as frameworks decode it ('+'
// and %XX escapes), up to a NUL where PHP ends it, and reports whether
// it is named (done).
func (t *namedTail) form(name []byte) bool {
	for i := 0; i < len(name); {
		c, w := formByte(name[i:])
		i += w
		if c == 0 {
			break
		}
		t.add(c)
	}
	return t.done()
}

func (t *namedTail) add(c byte) {
	if t.wn < len(t.whole) {
		t.whole[t.wn] = c
	}
	t.wn++
	if c == '.' || c == '[' || c == ']' {
		t.end()
		return
	}
	if t.n == 0 {
		if c == '_' && t.underscores {
			return
		}
		t.digits = true
	}
	t.digits = t.digits && '0' <= c && c <= '9'
	if t.n < len(t.part) {
		t.part[t.n] = c
	}
	t.n++
}

// end closes the current part.
func (t *namedTail) end() {
	if t.n > 0 && !t.digits {
		t.last = t.n <= len(t.part) && nameIn(t.part[:t.n], t.wants)
	}
	t.n = 0
}

// done closes the name and reports whether it, or its last part, is one
// of wants.
func (t *namedTail) done() bool {
	t.end()
	return t.last || t.wn <= len(t.whole) && nameIn(t.whole[:t.wn], t.wants)
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
// the whole field) is one of wants (nameOf) or has one for its last
// part (namedLast).
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
		if nameOf(f, wants) != 0 || namedLast(f, wants) {
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
