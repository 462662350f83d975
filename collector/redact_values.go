package collector

// The values of redactPairs' pairs that are more than a run of bytes:
// percent-encoded ones, authentication parameter lists, XML elements'
// text and cookie lists (redact_text.go reads the pairs).

import (
	"strings"
	"unicode/utf8"
)

// unhex2 returns the byte two hex digits write.
func unhex2(h string) byte {
	v := byte(0)
	for i := range 2 {
		c := h[i] | 0x20
		if c <= '9' {
			v = v<<4 | (c - '0')
		} else {
			v = v<<4 | (c - 'a' + 10)
		}
	}
	return v
}

// authParamsRun returns the length of the list of parameters at the
// start of s that an authentication scheme takes (RFC 9110 section
// 11.2: name=token or name="quoted", joined by commas: Digest's
// username="...", response="..."; AWS4-HMAC-SHA256's Credential=...,
// Signature=...), 0 when s starts with none. A value quoted \"...\" (in a
// rendered JSON string) runs to the same again. Only what followed the
// scheme up to the first quote or comma was cleared, a Digest response
// and a signature stored as sent (TestForeignAuthParamListsRedacted).
func authParamsRun(s string) int {
	n, end := 0, 0
	for {
		k := run(s[n:], func(c byte) bool { return pairNameByte(c) && c != '%' })
		if k == 0 || n+k >= len(s) || s[n+k] != '=' {
			return end
		}
		n += k + 1
		q := ""
		for _, p := range [...]string{`\"`, `"`} {
			if strings.HasPrefix(s[n:], p) {
				q = p
				break
			}
		}
		if q != "" {
			e := strings.Index(s[n+len(q):], q)
			if e < 0 {
				return len(s)
			}
			n += 2*len(q) + e
		} else {
			// ';' too: AWS4-HMAC-SHA256's SignedHeaders=host;x-amz-date
			n += run(s[n:], func(c byte) bool { return valueByte(c) || c == ';' })
		}
		end = n
		for n < len(s) && (s[n] == ' ' || s[n] == '\t') {
			n++
		}
		if n == len(s) || s[n] != ',' {
			return end
		}
		n++
		for n < len(s) && (s[n] == ' ' || s[n] == '\t') {
			n++
		}
	}
}

// xmlElementText returns where the text of an XML element whose start
// tag ends at s[gt] starts and ends, and whether it is one to clear: its
// name (after a namespace's prefix: wsse:Password) names a credential
// and its text, not empty, runs to an end tag ("</").
// <password>...</password> and a SOAP call's
// <wsse:Password Type="...">...</wsse:Password> were stored as sent
// (TestForeignXMLElementsRedacted); a generic type's "List<Token> tokens"
// is no element. The tag is looked for back to the '>' before, no
// further, so each byte is read once.
func xmlElementText(s string, done, gt int) (from, to int, ok bool) {
	lt := strings.LastIndexAny(s[done:gt], "<>")
	if lt < 0 || s[done+lt] != '<' || gt > 0 && s[gt-1] == '/' {
		return 0, 0, false
	}
	tag := s[done+lt+1 : gt]
	if i := strings.IndexAny(tag, " \t\r\n"); i >= 0 {
		tag = tag[:i]
	}
	if i := strings.LastIndexByte(tag, ':'); i >= 0 {
		tag = tag[i+1:] // a namespace's prefix
	}
	if tag == "" || run(tag, pairNameByte) != len(tag) || !credentialKey(tag) {
		return 0, 0, false
	}
	end := strings.IndexByte(s[gt+1:], '<')
	if end <= 0 || !strings.HasPrefix(s[gt+1+end:], "</") {
		return 0, 0, false
	}
	return gt + 1, gt + 1 + end, true
}

// encodedMark returns the length of the escape of the character whose
// hex is hex (in lower case) at the start of s, once or twice
// percent-encoded ("%3D", "%253d"), or 0.
func encodedMark(s, hex string) int {
	for _, n := range [...]int{3, 5} {
		if len(s) >= n && s[0] == '%' && strings.EqualFold(s[n-2:n], hex) && (n == 3 || s[1:3] == "25") {
			return n
		}
	}
	return 0
}

// encodedBoundary reports whether text ends in an encoded '=' or '&',
// where a percent-encoded pair's name starts: so no name runs back over
// the pairs before it ("a%3D1%26b%3D2" is a run of a name's bytes).
func encodedBoundary(text string) bool {
	if c := text[len(text)-1] | 0x20; c != 'd' && c != '6' {
		return false
	}
	for _, n := range [...]int{3, 5} {
		if len(text) >= n && (encodedMark(text[len(text)-n:], "3d") == n || encodedMark(text[len(text)-n:], "26") == n) {
			return true
		}
	}
	return false
}

// cookieList reports whether a pair's name is a Cookie header's, whose
// value is a list of cookies ("theme=dark; sid=..."), each one a
// credential: only the first was cleared
// (TestForeignCookieListsAndSpelledPasswordsRedacted). Not Set-Cookie's,
// one cookie followed by its attributes (Path=/; HttpOnly), kept.
func cookieList(name string) bool {
	k := foldName(name)
	return strings.HasSuffix(k, "cookie") && !strings.HasSuffix(k, "set-cookie") && !strings.HasSuffix(k, "set_cookie")
}

// setCookie reports whether a pair's name is a Set-Cookie header's.
func setCookie(name string) bool {
	k := foldName(name)
	return strings.HasSuffix(k, "set-cookie") || strings.HasSuffix(k, "set_cookie")
}

// nextSetCookie returns where the value of the next cookie of a
// Set-Cookie line starts and ends, reading from s[i], after a cookie's
// value: past its attributes ("; Path=/", "; HttpOnly", "; Expires=Wed,
// 21 Oct 2015 07:28:00 GMT", whose comma joins nothing), to a comma
// and a cookie's name and '=' ("a=1; Path=/, session=..."), as a client
// library joins several Set-Cookie headers into one line. Each cookie
// after the first was stored as sent (TestForeignJoinedSetCookiesRedacted).
// ok is false at anything else: the line's end, a space, a quote.
func nextSetCookie(s string, i int) (from, to int, ok bool) {
	for i < len(s) {
		switch s[i] {
		case ';':
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			n := run(s[i:], cookieNameByte)
			if n == 0 {
				return 0, 0, false
			}
			expires := strings.EqualFold(s[i:i+n], "expires")
			i += n
			if i < len(s) && s[i] == '=' {
				i++
				if e := strings.Index(s[i:min(len(s), i+40)], "GMT"); expires && e >= 0 {
					i += e + len("GMT")
				} else {
					i += run(s[i:], valueByte)
				}
			}
		case ',':
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			n := run(s[i:], cookieNameByte)
			if n == 0 || i+n >= len(s) || s[i+n] != '=' {
				return 0, 0, false
			}
			from = i + n + 1
			if k := quoteLen(s[from:]); k > 0 {
				e := strings.Index(s[from+k:], s[from:from+k])
				if e < 0 {
					return from, len(s), true
				}
				return from, from + 2*k + e, true
			}
			return from, from + run(s[from:], valueByte), true
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// cookieNameByte reports whether c may be part of a cookie's or a cookie
// attribute's name (an RFC 9110 token, less the marks logs rarely hold).
func cookieNameByte(c byte) bool {
	return pairNameByte(c) && c < utf8.RuneSelf || c == '!' || c == '#' || c == '$' || c == '*' || c == '+' || c == '^' || c == '`' || c == '|' || c == '~'
}

// cookieRun returns the length of the unquoted list of cookies at the
// start of s: values (valueByte) joined by ';' and "; ".
func cookieRun(s string) int {
	n := 0
	for n < len(s) && (valueByte(s[n]) || s[n] == ';' || s[n] == ' ' && n > 0 && s[n-1] == ';' && n+1 < len(s) && valueByte(s[n+1])) {
		n++
	}
	return n
}

// authScheme reports whether w is an HTTP authentication scheme that
// comes before a credential (RFC 9110 section 11; any case). Only these:
// any word followed by a space would keep the secret of
// "Authorization: s3cr3t (from the CLI)".
func authScheme(w string) bool {
	for _, s := range [...]string{"bearer", "basic", "digest", "negotiate", "ntlm", "dpop", "token", "mac", "hoba", "mutual", "aws4-hmac-sha256", "oauth"} {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

// valueByte reports whether c may be part of an unquoted pair's value.
func valueByte(c byte) bool {
	return c > ' ' && !strings.ContainsRune(`"'\&;,)]}<>`, rune(c))
}

// run returns how many bytes at the start of s satisfy ok.
func run(s string, ok func(byte) bool) int {
	n := 0
	for n < len(s) && ok(s[n]) {
		n++
	}
	return n
}
