package collector

import "strings"

// Redacted stands in the store for a credential a foreign OTLP client
// sent: nothing secret reaches an audit record, whoever sent it. The
// sidecar's own records carry no credential (it records key ids, never a
// key, a token or a query value); another OTLP client's attributes and
// body are stored as sent, so the well-known places a credential travels
// are cleared before they are (TestForeignCredentialsRedacted).
const Redacted = "[REDACTED]"

// foreignAttr returns the value stored for the foreign attribute key:
// Redacted for a credential's key (an Authorization or Cookie header, a
// password, secret or token), a URL without the values of its query, and
// any value with the tokens redactTokens finds cleared.
func foreignAttr(key, v string) string {
	if v == "" {
		return v
	}
	if credentialKey(key) {
		return Redacted
	}
	switch strings.ToLower(key) {
	case "url.query", "http.query":
		return Redacted
	case "url.full", "url.original", "http.url", "http.target":
		if i := strings.IndexByte(v, '?'); i >= 0 {
			v = v[:i+1] + Redacted
		}
	}
	return redactTokens(v)
}

// credentialKey reports whether an attribute key names a credential: its
// last part (after the last '.', as in http.request.header.authorization
// or db.password) holds authorization, cookie, password, passwd, secret,
// api_key, apikey, api-key or credential, or ends in token (access_token,
// x-auth-token; not input_tokens, a count).
func credentialKey(key string) bool {
	last := strings.ToLower(key[strings.LastIndexByte(key, '.')+1:])
	for _, w := range [...]string{"authorization", "cookie", "password", "passwd", "secret", "api_key", "apikey", "api-key", "credential"} {
		if strings.Contains(last, w) {
			return true
		}
	}
	return strings.HasSuffix(last, "token")
}

// redactTokens clears, in free text (a foreign log body, an attribute's
// value), what reads as a credential wherever it stands: a JWT (three
// base64url parts, the first "eyJ", a JSON object's start), the token of
// an HTTP "Bearer" or "Basic" credential, and the secret of a Portcullis
// API key (pk_ID_SECRET: the id, which is not secret, is kept). Text
// without "eyJ", "earer ", "asic " or "pk_" is returned as it is.
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
			if t := run(s[i:], tokenChar); t >= 8 {
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
