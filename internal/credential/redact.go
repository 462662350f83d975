package credential

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// Redact returns s with what reads as a credential replaced by Redacted,
// wherever it stands in free text (a foreign log body, a request id, a
// path, an alert's label, an operator's note): a JWT (three base64url
// parts, the first "eyJ", a JSON object's start), the token of an HTTP
// "Bearer" or "Basic" credential, the secret of a Portcullis API key
// (pk_ID_SECRET: the id, which is not secret, is kept), then any match of
// Patterns left, and a text that hides one of them percent-encoded or in
// a run of base64 (HidesEncoded) as a whole. Text holding none is
// returned as it is.
func Redact(s string) string {
	s = redactTokens(s)
	if held := PlainLiterals(s); held != 0 {
		if held&(1<<urlPasswordPattern) != 0 {
			s = redactURLPasswords(s)
		}
		for k, p := range Patterns {
			if held&(1<<k) != 0 {
				s = p.RE.ReplaceAllLiteralString(s, Redacted)
			}
		}
	}
	if strings.IndexByte(s, '%') < 0 && !hasBase64Run(s) {
		return s
	}
	return encodedCandidate.ReplaceAllStringFunc(s, func(c string) string {
		if HidesEncoded(c) {
			return Redacted
		}
		return c
	})
}

// urlPasswordPattern is the index of the URL password in Patterns.
var urlPasswordPattern = func() int {
	for k := range Patterns {
		if Patterns[k].RE == urlPassword {
			return k
		}
	}
	panic("credential: urlPassword is not in Patterns")
}()

// redactURLPasswords returns s with the password of each URL in it
// (urlPassword's first group) replaced by Redacted, the scheme, user and
// host kept.
func redactURLPasswords(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range urlPassword.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[2]])
		b.WriteString(Redacted)
		last = m[3]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// hasBase64Run reports whether s holds a run of minBase64Run base64
// characters, the shortest that may hide a credential.
func hasBase64Run(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if !base64Char[s[i]] {
			n = 0
			continue
		}
		if n++; n >= minBase64Run {
			return true
		}
	}
	return false
}

// redactTokens clears the JWTs, Bearer and Basic tokens and API key
// secrets of s (see Redact). Text without "eyJ", "earer ", "asic " or
// "pk_" is returned as it is.
func redactTokens(s string) string {
	if !strings.Contains(s, "eyJ") && !strings.Contains(s, "earer ") && !strings.Contains(s, "asic ") && !strings.Contains(s, "pk_") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if n := tokenAt(s, i); n > 0 {
			b.WriteString(Redacted)
			i += n
			continue
		}
		if n := schemeAt(s, i); n > 0 {
			b.WriteString(s[i : i+n])
			i += n
			if t := run(s[i:], tokenChar); t >= 8 && (n == len("bearer ") || basicPair(s[i:i+t])) {
				b.WriteString(Redacted)
				i += t
			}
			continue
		}
		if strings.HasPrefix(s[i:], "pk_") && (i == 0 || !wordChar(s[i-1])) {
			id := run(s[i+3:], alnum)
			if j := i + 3 + id; id > 0 && j < len(s) && s[j] == '_' && run(s[j+1:], alnum) >= 16 {
				b.WriteString(s[i : j+1])
				b.WriteString(Redacted)
				i = j + 1 + run(s[j+1:], alnum)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// tokenAt returns the length of a JWT starting at s[i], or 0: "eyJ", then
// three base64url parts (the last may be empty, as an unsecured JWT's).
func tokenAt(s string, i int) int {
	if !strings.HasPrefix(s[i:], "eyJ") || i > 0 && b64url(s[i-1]) {
		return 0
	}
	n := 0
	for part := range 3 {
		l := run(s[i+n:], b64url)
		if part < 2 && l < 4 {
			return 0
		}
		n += l
		if part < 2 {
			if i+n >= len(s) || s[i+n] != '.' {
				return 0
			}
			n++
		}
	}
	return n
}

// schemeAt returns the length of "Bearer " or "Basic " (any case, after a
// non-letter) at s[i], or 0.
func schemeAt(s string, i int) int {
	if i > 0 && wordChar(s[i-1]) {
		return 0
	}
	for _, w := range [...]string{"bearer ", "basic "} {
		if len(s)-i >= len(w) && strings.EqualFold(s[i:i+len(w)], w) {
			return len(w)
		}
	}
	return 0
}

// basicPair reports whether tok is a Basic credential: base64 (padded
// or not) of a text holding the ':' between user and password (RFC 7617).
// A word after "Basic " ("Basic authentication required") is no
// credential and is kept.
func basicPair(tok string) bool {
	d, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(tok, "="))
	return err == nil && bytes.IndexByte(d, ':') >= 0
}

// run returns how many bytes at the start of s satisfy ok.
func run(s string, ok func(byte) bool) int {
	n := 0
	for n < len(s) && ok(s[n]) {
		n++
	}
	return n
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func wordChar(c byte) bool { return alnum(c) || c == '_' }

func b64url(c byte) bool { return alnum(c) || c == '-' || c == '_' }

// tokenChar is a byte of an RFC 6750 token68 (Bearer and Basic credentials).
func tokenChar(c byte) bool {
	return b64url(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '='
}
