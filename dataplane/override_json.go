// JSON bodies for step 3: an object's members at any depth read for a refused name, as lenient
// parsers read them (byte order marks, escapes, comments, line separators).

package dataplane

import (
	"bytes"
)

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
