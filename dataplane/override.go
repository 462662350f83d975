package dataplane

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Method override parameters. Frameworks serve a POST as the method a
// "_method" parameter names: Laravel and Symfony read it from the query
// string and from form bodies, and Laravel from a JSON body's members
// too; Spring's HiddenHttpMethodFilter from the query or a form body;
// Rails' Rack::MethodOverride from urlencoded and multipart bodies (and
// from a POST body without Content-Type, which Rack parses as a form).
// The sidecar routed and authorised the request line's method, so such a
// parameter would have the service run another route than the one
// checked (POST /v1/records with write:records reaching DELETE
// /v1/records): like the override headers, it is refused (400).

// overrideParam reports whether the request carries a method override
// parameter, in its query (q) or in a body that frameworks parse into
// parameters, or an access_token in its query or urlencoded body
// (tokenName), or, with tenant (its route binds {tenant}), a tenant
// parameter in either (tenantField), or a multipart body whose boundary
// parsers would read differently, or such a body in a content coding
// (coded: a Content-Encoding other than identity). hasBody is whether the
// request came with a body at all (hasBody in size.go): without one, the
// body is not asked for.
func overrideParam(req *fasthttp.Request, q []byte, hasBody, coded, tenant bool) bool {
	if len(q) > 0 && (overrideForm(q, tenant) || queryToken(q)) {
		return true
	}
	if !hasBody {
		return false
	}
	body := req.Body()
	if len(body) == 0 {
		return false
	}
	ct := req.Header.ContentType()
	mt := mediaType(ct)
	// ASP.NET (System.Web) takes any type starting with the urlencoded
	// one for a form (HttpRequest.FillInFormCollection), so a prefix.
	urlencoded := foldPrefix(mt, "application/x-www-form-urlencoded")
	form := len(mt) == 0 || urlencoded || foldPrefix(mt, "multipart/")
	if coded && (form || jsonType(ct)) {
		// The scans below would read the coded bytes, and a service
		// that decodes them first reads the names: Express's body-parser
		// inflates gzip, deflate and br bodies by default, Apache's
		// mod_deflate input filter does it for PHP (Laravel, Symfony),
		// ASP.NET Core's request decompression and Jetty's GzipHandler
		// too. The sidecar cannot know whether its service decodes.
		return true
	}
	if jsonType(ct) && (foreignCharset(ct) || wideBOM(body) || loneCRComment(body) || lineSepComment(body) || overrideJSON(body, tenant) || tenant && tenantJSON(body)) {
		// A JSON body in UTF-16, say, is decoded by Express's parser
		// (any UTF its charset names) and read as nothing by the scan;
		// RFC 8259 section 8.1 says UTF-8.
		return true
	}
	switch {
	case form && foreignCharset(ct):
		return true // the scans below read ASCII; the service would not
	case len(mt) == 0 || urlencoded:
		return overrideForm(body, tenant)
	case foldPrefix(mt, "multipart/"):
		b, ok := boundaryParam(ct)
		switch {
		case !ok: // which boundary would the service take?
			return true
		case b == nil: // Rack then reads the body as a urlencoded form
			return overrideForm(body, tenant)
		}
		return overrideMultipart(body, b, tenant)
	}
	return false
}

// asciiCharsets are the charsets a form or multipart body may name: in
// each, a byte below 0x80 is that ASCII character and no other bytes
// decode to one (no escape or shift state, as ISO-2022-JP and UTF-7 have),
// so the byte scans read names as the service does.
var asciiCharsets = [...]string{"utf-8", "utf8", "us-ascii", "ascii", "latin1", "iso8859-1",
	"iso-8859-1", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7",
	"iso-8859-8", "iso-8859-9", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15", "iso-8859-16",
	"windows-1250", "windows-1251", "windows-1252", "windows-1253", "windows-1254", "windows-1255",
	"windows-1256", "windows-1257", "windows-1258", "cp1250", "cp1251", "cp1252", "koi8-r", "koi8-u",
	"shift_jis", "sjis", "windows-31j", "cp932", "euc-jp", "euc-kr", "gbk", "gb2312", "gb18030", "big5"}

// foreignCharset reports whether a Content-Type value has a "charset"
// parameter (any of them, any case, blanks around '=', quoted or not)
// naming a charset outside asciiCharsets. Servlet containers (Tomcat under
// Spring's HiddenHttpMethodFilter) split a form body at the bytes '&' and
// '=' and decode each name in that charset: "_method" in IBM037 (EBCDIC)
// or UTF-16 bytes is "_method" to them and nothing to a byte scan.
func foreignCharset(ct []byte) bool {
	for k := 0; ; {
		i := indexFold(ct[k:], "charset", false)
		if i < 0 {
			return false
		}
		k += i + len("charset")
		v := skipOWS(ct, k)
		if v == len(ct) || ct[v] != '=' {
			continue
		}
		val := ct[v+1:]
		if e := bytes.IndexAny(val, ";,"); e >= 0 {
			val = val[:e]
		}
		val = bytes.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = bytes.TrimSpace(val[1 : len(val)-1])
		}
		if !knownCharset(val) {
			return true
		}
	}
}

// knownCharset reports whether name is one of asciiCharsets, in any case.
func knownCharset(name []byte) bool {
	for _, c := range asciiCharsets {
		if lowerEqual(name, c) {
			return true
		}
	}
	return false
}

// lowerEqual reports whether b, its ASCII letters in lower case, is want.
func lowerEqual(b []byte, want string) bool {
	if len(b) != len(want) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// mediaType returns the media type of a Content-Type value: up to the
// first ';', ',' or blank, where PHP and Rack end it.
func mediaType(ct []byte) []byte {
	ct = ct[skipOWS(ct, 0):]
	if i := bytes.IndexAny(ct, ";, \t"); i >= 0 {
		ct = ct[:i]
	}
	return ct
}

// jsonType reports whether a Content-Type value has "/json" or "+json"
// in it, as Laravel's isJson looks for, or "/x-json": Rails parses a body
// of text/x-json as JSON, a synonym of application/json in its MIME table
// (Doorkeeper then reads a token from its members).
func jsonType(ct []byte) bool {
	for i := 0; i+5 <= len(ct); i++ {
		if ct[i] != '/' && ct[i] != '+' {
			continue
		}
		if foldEqual(ct[i+1:i+5], "json") || ct[i] == '/' && i+7 <= len(ct) && foldEqual(ct[i+1:i+7], "x-json") {
			return true
		}
	}
	return false
}

// overrideForm reports whether a form-encoded field list (a query string
// or an urlencoded body), split at '&' and at ';' (which Rack 2 also
// takes as a separator), has a field named as a method override, or, with
// tenant, a tenant parameter.
func overrideForm(form []byte, tenant bool) bool {
	start := 0
	for i, c := range form {
		if c == '&' || c == ';' {
			if overrideField(form[start:i], tenant) {
				return true
			}
			start = i + 1
		}
	}
	return overrideField(form[start:], tenant)
}

// overrideField reports whether the name of a form field ("name=value")
// is a method override name or an access token's (tokenName), or, with
// tenant, a tenant parameter's (tenantField). A name shorter than
// "tenant" cannot decode to any of them.
func overrideField(f []byte, tenant bool) bool {
	if len(f) < len("tenant") {
		return false
	}
	if eq := bytes.IndexByte(f, '='); eq >= 0 {
		f = f[:eq]
	}
	return tenant && tenantField(f) ||
		len(f) >= len("_method") && (overrideName(f) || overrideRackName(f)) ||
		len(f) >= minTokenParam && tokenName(f) ||
		len(f) >= len("x-tunneled-method") && overrideHeaderName(f)
}

// overrideParamNames are the other parameters frameworks read a POST's
// method from: X-HTTP-Method-Override, which ASP.NET MVC 5 and Web Pages
// (System.Web.Mvc's GetHttpMethodOverride, which [HttpDelete], [HttpPut]
// and AcceptVerbs select actions by) read when the header of that name is
// absent, from the form, then the query string, by a name compared
// without case; and x-tunneled-method, which Perl's
// Plack::Middleware::MethodOverride reads from the query and Catalyst's
// REST::ForBrowsers from the body.
var overrideParamNames = [...]string{"x-http-method-override", "x-tunneled-method"}

// overrideHeaderName reports whether a parameter name, decoded as
// ASP.NET's HttpUtility.UrlDecode decodes it ('+', %XX and %uXXXX
// escapes), is one of overrideParamNames in any case.
func overrideHeaderName(name []byte) bool {
	for _, want := range overrideParamNames {
		if netNameIs(name, want) {
			return true
		}
	}
	return false
}

// netNameIs reports whether name, decoded as overrideHeaderName says, is
// want (lower case) in any case.
func netNameIs(name []byte, want string) bool {
	n := 0
	for i := 0; i < len(name); n++ {
		c, w := formByte(name[i:])
		i += w
		if n == len(want) || c|0x20 != want[n] { // '-' | 0x20 is '-'
			return false
		}
	}
	return n == len(want)
}

// overrideLead marks the bytes a framework reads as the '_' that starts
// "_method": PHP turns '.', ' ' and an unmatched '[' of a parameter name
// into '_'.
var overrideLead = [256]bool{'_': true, '.': true, ' ': true, '[': true}

// overrideName reports whether a parameter name, decoded as frameworks
// decode it ('+' and %XX escapes, leading blanks dropped as PHP drops
// them), is "_method" in any case and with any overrideLead byte first,
// alone or followed by '[' (PHP's "_method[]") or NUL (where PHP ends a
// name).
func overrideName(name []byte) bool {
	var d [8]byte
	n := decodeHead(d[:], name)
	if n < 7 || !overrideLead[d[0]] || !foldEqual(d[1:7], "method") {
		return false
	}
	return n == 7 || d[7] == '[' || d[7] == 0
}

// decodeHead decodes the start of a parameter name into d as frameworks
// decode it ('+', %XX and %uXXXX escapes, leading blanks dropped as PHP drops
// them) and returns how many bytes it wrote, at most len(d).
func decodeHead(d, name []byte) int {
	n := 0
	for i := 0; i < len(name) && n < len(d); {
		c, w := formByte(name[i:])
		i += w
		if n == 0 && (c == ' ' || c == '\t') {
			continue
		}
		d[n] = c
		n++
	}
	return n
}

// overrideRackName reports whether a parameter name, decoded as Rack
// decodes it, is "_method" (in any case) to Rack 2's nested parameter
// parser: its key is the first run of bytes other than brackets, brackets
// before it dropped, and a name that goes on with only ']' after the key
// is that key ("[_method]", "]]_method", "_method]").
func overrideRackName(name []byte) bool {
	return rackKey(name, "_method")
}

// rackKey reports whether a parameter name, decoded as Rack decodes it,
// is want (lower case; its letters in any case) to Rack 2's nested
// parameter parser, as overrideRackName says.
func rackKey(name []byte, want string) bool {
	n, i := 0, 0
	for i < len(name) { // the brackets before the key
		c, w := formByte(name[i:])
		if c != '[' && c != ']' {
			break
		}
		i += w
	}
	for i < len(name) {
		c, w := formByte(name[i:])
		if c == '[' || c == ']' {
			break
		}
		if n == len(want) || c != want[n] && c|0x20 != want[n] { // case folds on letters only
			return false
		}
		n++
		i += w
	}
	if n != len(want) {
		return false
	}
	for i < len(name) { // only ']' may follow
		c, w := formByte(name[i:])
		if c != ']' {
			return false
		}
		i += w
	}
	return true
}

// formByte decodes the first byte of a form-encoded b: '+' is a space, a
// %XX escape its byte, a %uXXXX escape its character (0xFF outside ASCII,
// which no name here holds); it returns the byte and how many bytes of b
// it took. ASP.NET (System.Web: MVC 5, Web API 2) decodes %uXXXX in query
// and form names (HttpUtility.UrlDecode), and MVC 5 binds the form before
// the route's data, so "%u0074enant" was its tenant; Rack and PHP keep
// such an escape as it is, and decoding it only makes the scans stricter.
func formByte(b []byte) (byte, int) {
	if len(b) >= 6 && b[0] == '%' && b[1]|0x20 == 'u' {
		v := 0
		for _, h := range b[2:6] {
			if d := unhex(h); d >= 0 && v >= 0 {
				v = v<<4 | d
			} else {
				v = -1
			}
		}
		switch {
		case v >= 0x80:
			return 0xFF, 6
		case v >= 0:
			return byte(v), 6
		}
	}
	switch {
	case b[0] == '+':
		return ' ', 1
	case b[0] == '%' && len(b) >= 3 && unhex(b[1]) >= 0 && unhex(b[2]) >= 0:
		return byte(unhex(b[1])<<4 | unhex(b[2])), 3
	}
	return b[0], 1
}
