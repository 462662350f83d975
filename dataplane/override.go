package dataplane

import (
	"bytes"
	"strings"

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

// accessToken is the parameter in which RFC 6750 (sections 2.2 and 2.3)
// lets a client send its bearer token in the query or a form body.
const accessToken = "access_token"

// tokenParams are the parameters frameworks read a token from by
// default: access_token (RFC 6750; passport-http-bearer, Spring Security's
// bearer token resolver and ASP.NET's JwtBearer events when told to),
// bearer_token (Doorkeeper's access_token_methods read it after the
// Authorization header and access_token) and api_token (Laravel's token
// guard reads it from the query, then the input, before the bearer
// header). Each is a word, '_', a word, so PHP's spellings of the '_'
// apply at tokenUnder.
var tokenParams = [...]string{accessToken, "bearer_token", "api_token"}

// minTokenParam is the length of the shortest of tokenParams.
const minTokenParam = len("api_token")

// tokenName reports whether a parameter name, decoded as overrideName and
// overrideRackName decode it, is one of tokenParams in any case (PHP
// reading '.', ' ' or '[' as its '_'), alone or followed by '[' or NUL,
// or its key to Rack's nested parser ("[access_token]"). The sidecar
// takes a credential only from its headers and verifies that one; a token
// in the query or a form body went on unverified to a service that reads
// it there, with none of the sidecar's scopes, limits or revocations
// applied to whom it names, and into the access logs that record query
// strings.
func tokenName(name []byte) bool {
	var d [len(accessToken) + 1]byte
	n := decodeHead(d[:], name)
	for _, want := range tokenParams {
		if tokenNameIs(d[:n], want) || rackKey(name, want) {
			return true
		}
	}
	return false
}

// queryTokenParams are parameters services read a credential from in
// the query: "token", which hapi-auth-jwt2 (hapi's JWT plugin) reads by
// default before the Authorization header (its urlKey), and Gitea's API
// beside access_token; and "api_key" and "apikey", where OpenAPI's
// apiKey-in-query schemes, FastAPI's APIKeyQuery and many public APIs
// take a key. They are refused in the query only, where those read them:
// in a body the names are common for what is no credential of the caller
// (a push or captcha token in JSON, a reset token in a form, a third
// party's API key an integration stores), and none reads them there.
var queryTokenParams = [...]string{"token", "apikey", "api_key"}

// queryToken reports whether the query q has a parameter whose name,
// decoded as tokenName decodes names, is one of queryTokenParams in any
// case ("api_key" with PHP's spellings of '_', as tokenNameIs reads
// them), alone or followed by '[' or NUL, or its key to Rack's nested
// parser ("[api_key]", read96). Such a credential went on
// unverified to a service that authenticates on it, beside a key the
// sidecar admitted or on a public route without any, and into the access
// logs that record query strings (TestTokenQueryParamRefused).
func queryToken(q []byte) bool {
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		f := q[start:i]
		start = i + 1
		if eq := bytes.IndexByte(f, '='); eq >= 0 {
			f = f[:eq]
		}
		if len(f) < len("token") {
			continue
		}
		var d [len("api_key") + 1]byte
		n := decodeHead(d[:], f)
		for _, want := range queryTokenParams {
			if rackKey(f, want) { // "[api_key]", as tokenName reads "[access_token]"
				return true
			}
			if strings.IndexByte(want, '_') >= 0 {
				if tokenNameIs(d[:n], want) {
					return true
				}
				continue
			}
			if n >= len(want) && foldEqual(d[:len(want)], want) &&
				(n == len(want) || d[len(want)] == '[' || d[len(want)] == 0) {
				return true
			}
		}
	}
	return false
}

// tokenNameIs reports whether the decoded head d of a name is want (one
// of tokenParams) as tokenName says.
func tokenNameIs(d []byte, want string) bool {
	u := strings.IndexByte(want, '_')
	if len(d) < len(want) || d[u] != '_' && d[u] != '.' && d[u] != ' ' && d[u] != '[' {
		return false
	}
	return foldEqual(d[:u], want[:u]) && foldEqual(d[u+1:len(want)], want[u+1:]) &&
		(len(d) == len(want) || d[len(want)] == '[' || d[len(want)] == 0)
}

// tokenPart reports whether a multipart part's name parameter value is an
// access token's (tokenName), as read or with its backslash escapes
// undone as Rack undoes them: multer fills req.body from such a part, and
// passport-http-bearer reads req.body.access_token.
func tokenPart(v []byte) bool {
	return tokenName(v) || bytes.IndexByte(v, '\\') >= 0 && tokenName(unescapeHead(v, ""))
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

// boundaryParam returns the boundary of a multipart Content-Type value;
// nil and true when it has none (no parser finds parts then, and Rack
// reads the body as a urlencoded form instead), false when parsers would
// disagree about it. They find it differently: PHP after the first '='
// that follows the first "boundary" anywhere in the value (case-sensitive
// first), Rack after the last "boundary=" in any case, quoted or not,
// Tomcat decoding an RFC 2047 encoded word ("=?" anywhere in the value
// is refused). The
// boundary returned is the shortest either could take (boundaryCore):
// every parser's boundary holds it, so every delimiter a parser finds
// holds it too.
func boundaryParam(ct []byte) ([]byte, bool) {
	php := bytes.Index(ct, []byte("boundary"))
	if php < 0 {
		php = indexFold(ct, "boundary", false)
	}
	if php < 0 {
		return nil, true
	}
	eq := bytes.IndexByte(ct[php:], '=')
	if eq < 0 {
		return nil, true // PHP: "Missing boundary"; Rack needs "boundary="
	}
	b := boundaryCore(ct[php+eq+1:])
	rack := indexFold(ct, "boundary=", true)
	if rack < 0 || len(b) == 0 || !bytes.Equal(boundaryCore(ct[rack+len("boundary="):]), b) ||
		bytes.Contains(ct, encodedWord) { // Tomcat decodes an RFC 2047 encoded word in it
		return nil, false
	}
	if t, ok := tomcatBoundary(ct); !ok || t != nil && !bytes.Contains(t, b) {
		return nil, false
	}
	return b, true
}

// tomcatBoundary returns the boundary Tomcat's multipart parser
// (commons-fileupload's ParameterParser) takes from a Content-Type value,
// nil when it takes none, and false when it would decode it (a
// "boundary*" parameter, RFC 2231). Parameters are split at whichever of
// ';' and ',' comes first in the value, outside quotes; a name is
// trimmed, loses a trailing '*' and is compared in lower case, the last
// "boundary" counts, and its value is trimmed and unquoted.
func tomcatBoundary(ct []byte) ([]byte, bool) {
	sep := byte(';')
	if i := bytes.IndexAny(ct, ";,"); i >= 0 {
		sep = ct[i]
	}
	var val []byte
	extended := false
	for i := 0; i < len(ct); {
		j := i
		for j < len(ct) && ct[j] != '=' && ct[j] != sep {
			j++
		}
		name := javaTrim(ct[i:j])
		star := len(name) > 0 && name[len(name)-1] == '*'
		if star {
			name = name[:len(name)-1]
		}
		k := j
		if j < len(ct) && ct[j] == '=' {
			k = quotedTokenEnd(ct, j+1, sep)
		}
		if foldEqual(name, "boundary") {
			val, extended = nil, star
			if j < len(ct) && ct[j] == '=' {
				val = javaTrim(ct[j+1 : k])
				if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
					val = val[1 : len(val)-1]
				}
			}
		}
		i = k + 1
	}
	return val, !extended
}

// quotedTokenEnd returns the index of the first sep at or after i outside
// double quotes (a backslash escaping the byte after it), or len(b).
func quotedTokenEnd(b []byte, i int, sep byte) int {
	quoted, escaped := false, false
	for ; i < len(b); i++ {
		c := b[i]
		if !quoted && c == sep {
			return i
		}
		if !escaped && c == '"' {
			quoted = !quoted
		}
		escaped = !escaped && c == '\\'
	}
	return i
}

// javaTrim trims the bytes Java's Character.isWhitespace takes for
// blanks from both ends of b.
func javaTrim(b []byte) []byte {
	for len(b) > 0 && javaSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && javaSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func javaSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' || c >= 0x1c && c <= 0x1f }

// boundaryCore returns the part of a boundary parameter's value (what
// follows its '=') that every reading of it holds: after blanks and a
// quote, up to the first quote, ';', ',' or blank.
func boundaryCore(v []byte) []byte {
	v = v[skipOWS(v, 0):]
	if len(v) > 0 && v[0] == '"' {
		v = v[skipOWS(v, 1):]
	}
	if i := bytes.IndexAny(v, "\";, \t"); i >= 0 {
		v = v[:i]
	}
	return v
}

// indexFold returns the index of the first (or last) occurrence of the
// lower-case want in b, in any case, or -1.
func indexFold(b []byte, want string, last bool) int {
	at := -1
	for i := 0; i+len(want) <= len(b); i++ {
		if b[i]|0x20 == want[0] && foldEqual(b[i:i+len(want)], want) {
			if at = i; !last {
				break
			}
		}
	}
	return at
}

// overrideMultipart reports whether a part of a multipart body has a
// header naming a method override parameter (name="_method"), or, with
// tenant, a tenant parameter. Every
// occurrence of the boundary is taken as a delimiter, which is stricter
// than the parsers; the header block after it ends at the first empty
// line, and the search goes on after it, so the work is linear in the
// body whatever the boundary.
func overrideMultipart(body, boundary []byte, tenant bool) bool {
	for {
		i := bytes.Index(body, boundary)
		if i < 0 {
			return false
		}
		body = body[i+len(boundary):]
		end := headerBlockEnd(body)
		if overrideNameParam(body[:end], tenant) || overrideContentID(body[:end], tenant) {
			return true
		}
		body = body[end:]
	}
}

// headerBlockEnd returns the index of the empty line ("\n\r\n" or "\n\n")
// that ends the part headers at the start of b, or len(b).
func headerBlockEnd(b []byte) int {
	for k := 0; k < len(b); {
		j := bytes.IndexByte(b[k:], '\n')
		if j < 0 {
			return len(b)
		}
		k += j + 1
		if k < len(b) && b[k] == '\n' || k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n' {
			return k
		}
	}
	return len(b)
}

// overrideNameParam reports whether a block of part headers has a "name"
// parameter (not "filename"; any case, blanks or a folded line around '=',
// in double or single quotes, as PHP reads them, or none) whose value is a
// method override name (backslash escapes undone as Rack undoes them; or
// one of overrideParamNames, which ASP.NET reads from a multipart form
// too), an access token's (tokenPart), or
// with tenant is a tenant parameter's (tenantField, escapes undone too), or
// which Tomcat's parser would decode into another name than its bytes:
// an RFC 2231 "name*" or an RFC 2047 encoded word ("=?charset?B?...?="),
// both refused unread. The search goes on after each value, so each byte of h
// is read a bounded number of times.
func overrideNameParam(h []byte, tenant bool) bool {
	for k := 0; k+4 <= len(h); k++ {
		if h[k]|0x20 != 'n' || !foldEqual(h[k:k+4], "name") || k > 0 && isLetter(h[k-1]) {
			continue
		}
		v := skipFold(h, k+4)
		extended := v < len(h) && h[v] == '*'
		if extended {
			v = skipFold(h, v+1)
		}
		if v == len(h) || h[v] != '=' {
			continue
		}
		if extended {
			return true
		}
		v = skipFold(h, v+1)
		stop := "; \t\r\n\v\f" // PHP ends an unquoted value at a blank (isspace)
		switch {
		case v < len(h) && h[v] == '"':
			v, stop = v+1, "\"\r\n"
		case v < len(h) && h[v] == '\'': // PHP quotes with either
			v, stop = v+1, "'\r\n"
		}
		end := bytes.IndexAny(h[v:], stop)
		if end < 0 {
			end = len(h) - v
		}
		if val := h[v : v+end]; overrideName(val) || overrideRackName(val) || bytes.Contains(val, encodedWord) ||
			stop[0] != ';' && overrideEscaped(val) || tenant && tenantPart(val) || overrideHeaderName(val) ||
			tokenPart(val) {
			return true
		}
		k = v + end - 1 // the loop's k++ moves to the byte that ended the value
	}
	return false
}

// overrideEscaped reports whether a quoted parameter value, with its
// backslash escapes undone as Rack undoes them (name="\\_method" is
// "_method" to Rack::MethodOverride), is a method override name.
func overrideEscaped(v []byte) bool {
	if bytes.IndexByte(v, '\\') < 0 {
		return false // read as it is already
	}
	return overrideName(unescapeHead(v, " \t")) || overrideRackName(unescapeHead(v, "[]"))
}

// unescapeHead returns up to 16 bytes of v with its backslash escapes
// undone, the bytes of skip that lead it dropped (as overrideName drops
// blanks and Rack brackets, so that what is kept starts the name).
func unescapeHead(v []byte, skip string) []byte {
	var d [16]byte
	n := 0
	for i := 0; i < len(v) && n < len(d); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		if n == 0 && strings.IndexByte(skip, v[i]) >= 0 {
			continue
		}
		d[n] = v[i]
		n++
	}
	return d[:n]
}

// overrideContentID reports whether a block of part headers has a
// Content-ID header whose value is a method override name, or, with
// tenant, a tenant parameter's: Rack names a part by it when its
// Content-Disposition has no name.
func overrideContentID(h []byte, tenant bool) bool {
	const field = "content-id"
	for k := 0; k+len(field) < len(h); k++ {
		if h[k]|0x20 != 'c' || !foldEqual(h[k:k+len(field)], field) {
			continue // Rack's pattern is anchored nowhere: X-Content-ID too
		}
		v := skipOWS(h, k+len(field))
		if v == len(h) || h[v] != ':' {
			continue
		}
		v = skipJSONSpace(h, v+1) // Rack's \s* after the colon crosses line ends
		end := bytes.IndexAny(h[v:], "\r\n")
		if end < 0 {
			end = len(h) - v
		}
		if overrideName(h[v:v+end]) || tenant && tenantField(h[v:v+end]) {
			return true
		}
		k = v + end - 1
	}
	return false
}

// encodedWord starts an RFC 2047 encoded word, which Tomcat's multipart
// parser decodes in a parameter value.
var encodedWord = []byte("=?")

// skipFold is skipOWS over part headers, where a line break followed by a
// blank continues the header (Tomcat and PHP unfold it).
func skipFold(h []byte, i int) int {
	for {
		i = skipOWS(h, i)
		switch {
		case i+2 < len(h) && h[i] == '\r' && h[i+1] == '\n' && (h[i+2] == ' ' || h[i+2] == '\t'):
			i += 3
		case i+1 < len(h) && h[i] == '\n' && (h[i+1] == ' ' || h[i+1] == '\t'):
			i += 2
		default:
			return i
		}
	}
}

// skipOWS returns the index of the first byte of b at or after i that is
// not a space or tab, or len(b).
func skipOWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// overrideJSON reports whether a JSON body is an object with a member
// named "_method" (any case, escapes decoded), a token's (tokenName),
// or, with tenant, "tenant" (tenantField): Laravel takes a JSON body's
// members as the request's parameters, and Symfony's getMethod reads
// "_method" from them; passport-http-bearer takes req.body.access_token,
// which Express's JSON parser fills from such a member. Anything
// that is not an object, or stops being JSON, holds no parameters for a
// JSON parser either; comments are skipped as blanks (skipJSONIgnore).
func overrideJSON(b []byte, tenant bool) bool {
	i := 0
	if bytes.HasPrefix(b, utf8BOM) {
		i = len(utf8BOM) // Express's parser (iconv-lite) and System.Text.Json skip it
	}
	i = skipJSONIgnore(b, i)
	if i == len(b) || b[i] != '{' {
		return false
	}
	for i++; ; i++ { // i is at '{' or ','
		i = skipJSONIgnore(b, i)
		if i == len(b) || b[i] != '"' {
			return false // '}' or not JSON
		}
		var name [16]byte
		var n int
		if i, n = jsonKey(b, i+1, name[:]); i < 0 {
			return false
		}
		if n == len("_method") && name[0] == '_' && foldEqual(name[1:n], "method") || // foldEqual does not fold '_'
			n <= len(name) && (tenant && tenantField(name[:n]) || n >= minTokenParam && tokenName(name[:n])) {
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

// wideBOM reports whether a body starts with a UTF-16 or UTF-32 byte
// order mark. MVC 5's JSON value provider reads the body through a
// StreamReader, which takes such a mark for the encoding whatever the
// Content-Type says (Web API 2's formatter too), and binds what it reads
// before the route's data; the scans read its NUL bytes between letters.
func wideBOM(b []byte) bool {
	return len(b) >= 2 && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF) ||
		len(b) >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xFE && b[3] == 0xFF
}

// utf8BOM is the byte order mark a JSON body may start with, which
// parsers skip (RFC 8259 section 8.1 lets them ignore it).
var utf8BOM = []byte("\xef\xbb\xbf")

// jsonKey decodes the JSON string starting after its opening quote at i
// into name, as far as it fits, and returns the index after its closing
// quote and its decoded length (more than len(name) when it did not fit;
// a non-ASCII character is written as 0xFF), or -1 when it does not end.
func jsonKey(b []byte, i int, name []byte) (int, int) {
	n := 0
	for i < len(b) {
		c := b[i]
		i++
		switch {
		case c == '"':
			return i, n
		case c == '\\' && i < len(b):
			c, i = jsonEscape(b, i)
		case c >= 0x80:
			c = 0xFF
		}
		if n < len(name) {
			name[n] = c
		}
		n++
	}
	return -1, n
}

// jsonEscape decodes the escape whose letter is at b[i] and returns the
// character (0xFF for one outside ASCII) and the index after the escape.
func jsonEscape(b []byte, i int) (byte, int) {
	c := b[i]
	if c != 'u' {
		return c, i + 1 // \" \\ \/ and the letters of control characters: none is "_method"
	}
	if i+5 > len(b) {
		return 0xFF, len(b)
	}
	v := 0
	for _, h := range b[i+1 : i+5] {
		d := unhex(h)
		if d < 0 {
			return 0xFF, i + 1
		}
		v = v<<4 | d
	}
	if v >= 0x80 {
		return 0xFF, i + 5
	}
	return byte(v), i + 5
}

// skipJSONValue returns the index after the JSON value starting at i, or
// -1 when the body ends inside a string. It counts brackets rather than
// checking them: a body that is not JSON has no parameters anyway.
// Comments are skipped whole, so a quote or bracket in one counts for
// nothing, as for the parsers that read them (skipJSONIgnore).
func skipJSONValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			if i = skipJSONString(b, i+1); i < 0 || depth == 0 {
				return i
			}
			continue
		case c == '/' && jsonComment(b, i) > i:
			if depth == 0 {
				return i // a comment ends a value as a blank does
			}
			i = jsonComment(b, i)
			continue
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return i
		}
		i++
	}
	return i
}

// skipJSONString returns the index after the closing quote of the JSON
// string whose contents start at i, or -1.
func skipJSONString(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
		}
		i++
	}
	return -1
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace, or len(b).
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipJSONIgnore returns the index of the first byte at or after i that
// is neither JSON whitespace nor in a comment, or len(b). JSON has no
// comments, but the json gem Rails parses request bodies with
// (ActiveSupport::JSON.decode) skips "/* */" and "//" comments wherever
// it skips blanks (the ignore rule of its Ragel grammar), as
// Newtonsoft.Json and JSON5 readers do: {/**/"access_token":...} was a
// member to Doorkeeper and no JSON to the scan, and a quote inside a
// comment turned the scan's strings inside out. A strict parser refuses
// such a body whole, so reading comments costs it nothing.
func skipJSONIgnore(b []byte, i int) int {
	for {
		i = skipJSONSpace(b, i)
		j := jsonComment(b, i)
		if j == i {
			return i
		}
		i = j
	}
}

// jsonComment returns the index after the comment starting at i ("/*" to
// "*/", or "//" to the end of its line; an unended one runs to the end of
// b), or i when none starts there.
func jsonComment(b []byte, i int) int {
	if i+1 >= len(b) || b[i] != '/' {
		return i
	}
	switch b[i+1] {
	case '*':
		if e := bytes.Index(b[i+2:], commentEnd); e >= 0 {
			return i + 2 + e + len(commentEnd)
		}
		return len(b)
	case '/':
		if e := bytes.IndexByte(b[i+2:], '\n'); e >= 0 {
			return i + 2 + e + 1
		}
		return len(b)
	}
	return i
}

// commentEnd ends a block comment.
var commentEnd = []byte("*/")

// loneCRComment reports whether a "//" in b is followed on its line by a
// '\r' that is not the first byte of a CRLF (and not the body's last).
// The json gem ends a "//" comment at '\n' only, as jsonComment does;
// Newtonsoft.Json ends one at '\r' too (JsonTextReader.ParseComment), so
// what follows such a '\r' is a member to one and a comment to the other,
// and no one reading of the body serves both: it is refused. A "//" in a
// string counts as well (a URL); JSON has no raw '\r' in a string, and
// between members a lone one is only written to be read two ways.
func loneCRComment(b []byte) bool {
	if bytes.IndexByte(b, '\r') < 0 {
		return false // nearly every body: one SIMD pass
	}
	for i := 0; ; {
		k := bytes.Index(b[i:], commentLine)
		if k < 0 {
			return false
		}
		i += k + len(commentLine)
		end := len(b)
		if e := bytes.IndexByte(b[i:], '\n'); e >= 0 {
			end = i + e
		}
		for j := i; j < end; j++ {
			if b[j] == '\r' && j+1 < len(b) && b[j+1] != '\n' {
				return true
			}
		}
		i = end // a later "//" on this line is inside this one
	}
}

// commentLine starts a line comment.
var commentLine = []byte("//")

// lineSepComment reports whether a "//" comment in b holds U+2028 or
// U+2029. JSON5 readers (the json5 package) end a line comment at either,
// as at '\n' and '\r', and take them for blanks; the json gem and the
// scans end one at '\n' only. So {"a":1 //<U+2028>"tenant":"globex"<LF>}
// held a member tenant to a JSON5 reader that the scans read as a
// comment; read the other way, the gem would hide what follows. Unlike a
// lone '\r', either may stand raw in a JSON string (JavaScript's
// JSON.stringify writes them so), and a "//" in a URL is common, so only
// comments count, read as the scans and JSON5 read strings and comments:
// quoted by a double or a single quote (JSON5's, which tenantJSON reads too), with
// backslash escapes.
func lineSepComment(b []byte) bool {
	if !hasLineSep(b) {
		return false // nearly every body: one SIMD pass
	}
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"' || c == '\'':
			i = skipQuoted(b, i+1, c)
		case c == '/':
			j := jsonComment(b, i)
			if j == i {
				i++
				continue
			}
			if b[i+1] == '/' && hasLineSep(b[i:j]) {
				return true
			}
			i = j
		default:
			i++
		}
	}
	return false
}

// hasLineSep reports whether b holds U+2028 or U+2029 in UTF-8
// (E2 80 A8, E2 80 A9).
func hasLineSep(b []byte) bool {
	for {
		k := bytes.Index(b, lineSepLead)
		if k < 0 || k+2 >= len(b) {
			return false
		}
		if b[k+2] == 0xA8 || b[k+2] == 0xA9 {
			return true
		}
		b = b[k+2:]
	}
}

// lineSepLead is the UTF-8 of U+2028 and U+2029 but their last byte.
var lineSepLead = []byte("\xe2\x80")

// skipQuoted returns the index after the string quoted by q whose
// contents start at i, or len(b) when it does not end.
func skipQuoted(b []byte, i int, q byte) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case q:
			return i + 1
		case '\\':
			i++
		}
	}
	return len(b)
}
