// Package credential knows the shapes of a credential that must never
// reach a log line, an audit record or anything Portcullis sends out: a
// Portcullis API key, a JWT, the value of an HTTP Bearer or Basic
// credential, a password in a URL, and any of these percent-encoded or
// wrapped in base64. The
// evidence pack scans its records and files with Patterns and
// HidesEncoded; the collector (a foreign OTLP client's text) and the alert
// sinks (ticket text) clear what they find with Redact. Keeping the one
// implementation here means a shape taught to the scan is cleared
// everywhere.
//
// Everything here is read-only after init and safe for concurrent use.
// Redact returns a new string or s itself; it keeps nothing.
package credential

import (
	"regexp"
	"strings"
)

// Redacted stands in for a credential Redact cleared.
const Redacted = "[REDACTED]"

// KeyPrefix is the prefix of a Portcullis API key (policy.KeyPrefix;
// TestKeyPrefixIsPolicys holds the two equal: this package imports
// nothing of the module).
const KeyPrefix = "pk_"

// Patterns are the shapes of a credential as it stands in text: a
// Portcullis API key, a JWT, a bearer string, a password in a URL.
var Patterns = []Pattern{
	{"API key", regexp.MustCompile(regexp.QuoteMeta(KeyPrefix) + `[A-Za-z0-9]+_[A-Za-z0-9_-]{16,}`), KeyPrefix, false},
	{"JWT", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), "eyJ", false},
	{"bearer string", regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/-]{8,}`), "bearer", true},
	{"URL password", urlPassword, "://", false},
}

// urlPassword is a URL whose userinfo holds a password
// (scheme://user:password@host, RFC 3986 section 3.2.1: a connection
// string such as postgres://app:s3cret@db/app, or a proxy's URL), the
// password its first group. Its characters are userinfo's (unreserved,
// percent-encoded, sub-delims and ':'), so "[REDACTED]" in its place is
// none. Such a URL in a foreign log line or attribute was stored as
// sent (TestRedact).
var urlPassword = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~%!$&'()*+,;=-]*:([A-Za-z0-9._~%!$&'()*+,;=:-]+)@`)

// Pattern is one credential shape, with the literal every match holds
// (in any case when Fold is set; the literal is then lower case ASCII) as
// a cheap first test.
type Pattern struct {
	Name    string
	RE      *regexp.Regexp
	Literal string
	Fold    bool
}

// StartsAt reports whether s holds the pattern's literal at i.
func (p *Pattern) StartsAt(s string, i int) bool {
	if len(s)-i < len(p.Literal) {
		return false
	}
	if p.Fold {
		return strings.EqualFold(s[i:i+len(p.Literal)], p.Literal)
	}
	return s[i:i+len(p.Literal)] == p.Literal
}

// PlainLiterals returns the patterns whose literal s holds as it is (bit
// k for Patterns[k]). It reads s once, testing for a literal only where
// one may start.
func PlainLiterals(s string) uint {
	var held uint
	for i := 0; i < len(s); i++ {
		if !literalStart[s[i]] {
			continue
		}
		for k := range Patterns {
			if Patterns[k].StartsAt(s, i) {
				held |= 1 << k
			}
		}
	}
	return held
}

// literalStart marks the bytes a pattern's literal starts with.
var literalStart = func() (t [256]bool) {
	for _, p := range Patterns {
		c := p.Literal[0]
		t[c] = true
		if p.Fold && c >= 'a' && c <= 'z' {
			t[c-'a'+'A'] = true
		}
	}
	return t
}()

// plainMatch reports whether s holds a pattern as it is.
func plainMatch(s string) bool {
	held := PlainLiterals(s)
	for k, p := range Patterns {
		if held&(1<<k) != 0 && p.RE.MatchString(s) {
			return true
		}
	}
	return false
}
