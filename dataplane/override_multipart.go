// Multipart bodies for step 3: the boundary as each framework's parser finds it, and each part's
// headers read for a refused name (name parameter, Content-ID, RFC 2047 encoded words, folded
// lines).

package dataplane

import (
	"bytes"
	"strings"
)

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
// tenant, a tenant parameter (multipartHeads).
func overrideMultipart(body, boundary []byte, tenant bool) bool {
	return multipartHeads(body, boundary, func(h []byte) bool {
		return overrideNameParam(h, tenant) || overrideContentID(h, tenant)
	})
}

// multipartHeads reports whether named holds for the header block of a
// part of a multipart body. Every occurrence of the boundary is taken as
// a delimiter, which is stricter than the parsers; the header block
// after it ends at the first empty line, and the search goes on after
// it, so the work is linear in the body whatever the boundary. The walk
// for method override and tenant parameters and the one for
// tenant_params names (multipartNamed) are this one.
func multipartHeads(body, boundary []byte, named func(h []byte) bool) bool {
	for {
		i := bytes.Index(body, boundary)
		if i < 0 {
			return false
		}
		body = body[i+len(boundary):]
		end := headerBlockEnd(body)
		if named(body[:end]) {
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
// parameter (nameParams) whose value is a method override name
// (backslash escapes undone as Rack undoes them; or one of
// overrideParamNames, which ASP.NET reads from a multipart form too), an
// access token's (tokenPart), or with tenant is a tenant parameter's
// (tenantField, escapes undone too), or which Tomcat's parser would
// decode into another name than its bytes: an RFC 2231 "name*"
// (nameParams) or an RFC 2047 encoded word ("=?charset?B?...?="), both
// refused unread.
func overrideNameParam(h []byte, tenant bool) bool {
	return nameParams(h, func(val []byte, quoted bool) bool {
		return overrideName(val) || overrideRackName(val) || bytes.Contains(val, encodedWord) ||
			quoted && overrideEscaped(val) || tenant && tenantPart(val) || overrideHeaderName(val) ||
			tokenPart(val)
	})
}

// nameParams reports whether a block of part headers has an RFC 2231
// "name*" parameter, which Tomcat would decode (refused unread), or a
// "name" parameter (not "filename"; any case, blanks or a folded line
// around '=', in double or single quotes, as PHP reads them, or none)
// whose value, as it stands between its quotes, named holds for. The
// search goes on after each value, so each byte of h is read a bounded
// number of times. The reading for method override and tenant
// parameters and the one for tenant_params names (multipartNamed) are this
// one.
func nameParams(h []byte, named func(val []byte, quoted bool) bool) bool {
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
		if named(h[v:v+end], stop[0] != ';') {
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
// tenant, a tenant parameter's (contentIDs).
func overrideContentID(h []byte, tenant bool) bool {
	return contentIDs(h, func(v []byte) bool { return overrideName(v) || tenant && tenantField(v) })
}

// contentIDs reports whether a block of part headers has a Content-ID
// header whose value named holds for: Rack names a part by it when its
// Content-Disposition has no name. The reading for method override and
// tenant parameters and the one for tenant_params names (multipartNamed)
// are this one.
func contentIDs(h []byte, named func(v []byte) bool) bool {
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
		if named(h[v : v+end]) {
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
