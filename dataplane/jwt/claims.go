package jwt

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Claims is what a verified token says. A *Claims returned by Verify is
// immutable and shared: the cache hands the same value to every request
// presenting the same token, so callers must never modify it or its
// Scopes.
type Claims struct {
	Issuer                      *Issuer // points into the verifier's config
	Subject, Tenant, Client     string
	JTI                         string
	Scopes                      []string // from "scope" (space-separated) or "scp" (array or space-separated); never both
	IssuedAt, NotBefore, Expiry int64    // unix seconds (0 if absent, and iat 0 if 0: HasIssuedAt; Expiry always set)
	HasIssuedAt                 bool     // the token has an iat: an IssuedAt of 0 is then 1970-01-01, not none (nbf 0 bounds nothing either way)
	Fingerprint                 [16]byte // first 16 bytes of SHA-256 of the token (an ES256 one in its low-S spelling), for audit

	is       *issuerState // the issuer that verified it
	epoch    uint64       // is.epoch when it was verified (Verifier.Current)
	issuedBy int64        // iat rounded up (IssuedAt is rounded down): the token is not valid before it
}

// maxNumericDate bounds exp, nbf and iat (year 5138) so that arithmetic
// on them cannot overflow.
const maxNumericDate = 100_000_000_000

// claimsFrom decodes the registered and configured claims of m for
// issuer is. It checks types, audience and presence, not time.
func (is *issuerState) claimsFrom(m map[string]json.RawMessage) (*Claims, Status) {
	if is.caseVariantClaim(m) {
		return nil, Malformed
	}
	c := &Claims{Issuer: is.iss}
	if st := is.checkAudience(m["aud"]); st != OK {
		return nil, st
	}
	if st := decodeTimes(c, m); st != OK {
		return nil, st
	}
	strs := [...]struct {
		dst  *string
		name string
	}{{&c.Subject, "sub"}, {&c.JTI, "jti"}, {&c.Tenant, is.iss.TenantClaim}, {&c.Client, is.iss.ClientClaim}}
	for _, f := range strs {
		if st := optString(f.dst, m, f.name); st != OK {
			return nil, st
		}
	}
	if !revocableJTI(c.JTI) {
		return nil, BadClaim
	}
	var st Status
	c.Scopes, st = scopes(m)
	return c, st
}

// readClaims are the claims this package reads by their exact names,
// besides the issuer's tenant and client claims.
var readClaims = [...]string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub", "scope", "scp", "nonce", "at_hash", "c_hash"}

// caseVariantClaim reports whether m holds a claim this package reads
// (readClaims, the tenant and client claims) under another name equal to
// it under case folding (caseVariant). members refuses such a name beside
// the exact one as a Duplicate; alone, it was a claim the token did not
// have here, and the one a reader ignoring case acts on: a lone "JTI" a
// token without jti, which a revocation of that jti never reached, a lone
// "ſcp" (long s) a token scoped by its "scope" alone, a lone "NBF" a
// token valid at once (TestJOSENameCaseVariantsRefused).
func (is *issuerState) caseVariantClaim(m map[string]json.RawMessage) bool {
	for name := range m {
		for _, r := range readClaims {
			if caseVariant(name, r) {
				return true
			}
		}
		if caseVariant(name, is.iss.TenantClaim) || caseVariant(name, is.iss.ClientClaim) {
			return true
		}
	}
	return false
}

// revocableJTI reports whether jti can be revoked: `keys revoke jti:<id>`
// (etcdadmin.RevokeToken) refuses an id holding a control character, so
// a token with one would be valid until its exp whatever was revoked
// (TestVerifyJTIRevocable). No jti is revocable as the absence of one.
func revocableJTI(jti string) bool {
	return !strings.ContainsFunc(jti, unicode.IsControl)
}

func optString(dst *string, m map[string]json.RawMessage, name string) Status {
	raw, ok := m[name]
	if !ok {
		return OK
	}
	if *dst, ok = jsonString(raw); !ok {
		return BadClaim
	}
	return OK
}

// decodeTimes fills Expiry, NotBefore and IssuedAt. Fractional dates
// (allowed by RFC 7519 §2) are rounded, from their exact decimal value,
// toward the stricter side: exp down, nbf up; iat down for the token's
// age and lifetime (IssuedAt) and up for the check that it is not in the
// future (issuedBy). Read as a float64, "exp":N.99999999999999999 was
// N+1: the token was accepted a second past the whole second its exp
// rounds down to (numericDate, TestJWTFractionalExpRoundsDown).
func decodeTimes(c *Claims, m map[string]json.RawMessage) Status {
	raw, ok := m["exp"]
	if !ok {
		return MissingExpiry
	}
	exp, _, st := numericDate(raw)
	if st != OK {
		return st
	}
	c.Expiry = exp
	if raw, ok := m["nbf"]; ok {
		nbf, frac, st := numericDate(raw)
		if st != OK {
			return st
		}
		c.NotBefore = roundUp(nbf, frac)
	}
	if raw, ok := m["iat"]; ok {
		iat, frac, st := numericDate(raw)
		if st != OK {
			return st
		}
		c.IssuedAt, c.issuedBy, c.HasIssuedAt = iat, roundUp(iat, frac), true
	}
	return OK
}

// roundUp is the whole second at or after a date of whole seconds secs
// and a fractional part (frac) or none.
func roundUp(secs int64, frac bool) int64 {
	if frac {
		return secs + 1
	}
	return secs
}

// numericDate decodes a JSON number in [0, maxNumericDate] exactly, from
// its decimal digits, into its whole seconds (rounded down) and whether
// a fractional part is left over. Decoded as a float64, a fraction
// within half a unit in the last place of the next second was that
// second, rounded up.
func numericDate(raw json.RawMessage) (secs int64, frac bool, st Status) {
	d, ok := parseDecimal(raw)
	if !ok || d.neg && !d.zero() {
		return 0, false, BadClaim
	}
	secs, frac, ok = d.split()
	if !ok || secs > maxNumericDate || secs == maxNumericDate && frac {
		return 0, false, BadClaim
	}
	return secs, frac, OK
}

// decimal is a JSON number as written: the digits of its integer part
// and of its fraction, run together, with the decimal point moved exp
// places to the right of the integer part's end.
type decimal struct {
	neg      bool
	whole    []byte // '0' to '9'; points into the number's bytes
	fraction []byte // '0' to '9'; points into the number's bytes
	exp      int    // bounded by maxDecimalExp either way
}

// maxDecimalExp bounds the exponent a decimal keeps: past it, a number
// with a nonzero digit is far outside any date.
const maxDecimalExp = 1 << 20

// parseDecimal reads raw if and only if it is one JSON number (RFC 8259
// §6).
func parseDecimal(raw []byte) (d decimal, ok bool) {
	i := 0
	if i < len(raw) && raw[i] == '-' {
		d.neg, i = true, i+1
	}
	end := digitsEnd(raw, i)
	if end == i || raw[i] == '0' && end > i+1 {
		return d, false // no integer part, or a leading zero
	}
	d.whole, i = raw[i:end], end
	if i < len(raw) && raw[i] == '.' {
		end = digitsEnd(raw, i+1)
		if end == i+1 {
			return d, false
		}
		d.fraction, i = raw[i+1:end], end
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		if d.exp, i, ok = parseExp(raw, i+1); !ok {
			return d, false
		}
	}
	return d, i == len(raw)
}

// parseExp reads the exponent of a JSON number from raw[i:]: a sign or
// none, then digits; its value is held within maxDecimalExp.
func parseExp(raw []byte, i int) (e, end int, ok bool) {
	neg := false
	if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
		neg, i = raw[i] == '-', i+1
	}
	end = digitsEnd(raw, i)
	if end == i {
		return 0, end, false
	}
	for _, c := range raw[i:end] {
		e = min(maxDecimalExp, e*10+int(c-'0'))
	}
	if neg {
		e = -e
	}
	return e, end, true
}

// digitsEnd is the index of the first byte at or after i in raw that is
// not a decimal digit.
func digitsEnd(raw []byte, i int) int {
	for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
		i++
	}
	return i
}

// zero reports whether every digit of d is 0.
func (d decimal) zero() bool {
	return allZero(d.whole) && allZero(d.fraction)
}

// allZero reports whether every byte of digits is '0'.
func allZero(digits []byte) bool {
	for _, c := range digits {
		if c != '0' {
			return false
		}
	}
	return true
}

// digit is the i-th digit of d's integer and fraction parts run
// together, and 0 past their end.
func (d decimal) digit(i int) int64 {
	switch {
	case i < len(d.whole):
		return int64(d.whole[i] - '0')
	case i < len(d.whole)+len(d.fraction):
		return int64(d.fraction[i-len(d.whole)] - '0')
	}
	return 0
}

// split returns the whole part of d, rounded toward zero, and whether a
// nonzero fraction is left over; ok is false when the whole part is past
// maxNumericDate (its value is then not worked out).
func (d decimal) split() (whole int64, frac bool, ok bool) {
	if d.zero() {
		return 0, false, true // whatever its exponent
	}
	n := len(d.whole) + d.exp // the digits before the decimal point
	for i := 0; i < n; i++ {
		if whole = whole*10 + d.digit(i); whole > maxNumericDate {
			return 0, false, false
		}
	}
	for i := max(n, 0); i < len(d.whole)+len(d.fraction); i++ {
		frac = frac || d.digit(i) != 0
	}
	return whole, frac, true
}

// checkAudience accepts aud as a string or a non-empty array of strings
// (RFC 7519 §4.1.3) of which one must be among the issuer's Audiences.
func (is *issuerState) checkAudience(raw json.RawMessage) Status {
	if raw == nil {
		return BadAudience
	}
	if s, ok := jsonString(raw); ok {
		return is.audienceOK(s)
	}
	auds, ok := stringArray(raw)
	if !ok {
		return BadClaim
	}
	for _, a := range auds {
		if is.audienceOK(a) == OK {
			return OK
		}
	}
	return BadAudience
}

func (is *issuerState) audienceOK(aud string) Status {
	if slices.Contains(is.iss.Audiences, aud) {
		return OK
	}
	return BadAudience
}

// stringArray decodes raw if and only if it is an array of JSON strings;
// encoding/json would turn a null element into "".
func stringArray(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil, false
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		var ok bool
		if out[i], ok = jsonString(e); !ok {
			return nil, false
		}
	}
	return out, true
}

// scopes reads "scope", a space-separated string (RFC 8693 §4.2,
// RFC 9068 §2.2.3), or "scp", an array of strings (Okta) or a
// space-separated string (Microsoft Entra ID). Any other type is
// BadClaim: a token with "scope": ["admin"] must not pass as unscoped. A
// token with both is BadClaim too: no provider issues both, and taking
// their union granted "scp" in full to a token whose "scope" was what
// its issuer meant, where a provider lets a client or user shape the
// other claim (a custom claim mapping).
func scopes(m map[string]json.RawMessage) ([]string, Status) {
	raw, ok := m["scope"]
	alt, altOK := m["scp"]
	switch {
	case ok && altOK:
		return nil, BadClaim
	case altOK:
		raw, ok = alt, true
	}
	if !ok {
		return nil, OK
	}
	var out []string
	if s, isString := jsonString(raw); isString {
		out = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' })
	} else if arr, isArray := stringArray(raw); isArray && altOK {
		out = arr
	} else {
		return nil, BadClaim
	}
	for _, s := range out {
		if !validScope(s) {
			return nil, BadClaim
		}
	}
	return out, OK
}

// validScope reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// checkTimes checks exp, nbf and iat against now with the issuer's skew.
// Comparing whole seconds is exact here: for an integer e,
// floor(t) >= e if and only if t >= e.
func (is *issuerState) checkTimes(c *Claims, now time.Time) Status {
	if now.Add(-is.iss.ClockSkew).Unix() >= c.Expiry {
		return Expired
	}
	late := now.Add(is.iss.ClockSkew).Unix()
	if late < c.NotBefore || late < c.issuedBy {
		return NotYetValid
	}
	return OK
}

// checkLifetime enforces MaxLifetime on exp - iat, or exp - now when the
// token has no iat. An iat of 0 is one (HasIssuedAt): taken for none, a
// token with "iat":0 was bounded by exp - now, a lifetime of 56 years
// let through (TestJWTZeroTimeClaimsArePresent).
func (is *issuerState) checkLifetime(c *Claims, now time.Time) Status {
	limit := is.iss.MaxLifetime
	if limit <= 0 {
		return OK
	}
	start := c.IssuedAt
	if !c.HasIssuedAt {
		start = now.Unix()
	}
	if c.Expiry-start > int64(limit/time.Second) {
		return TooLong
	}
	return OK
}
