package jwt

// Status is the outcome of Verify: OK, or the first check a token failed.
// The zero value is OK. Checks run cheapest first (shape, header, claims,
// then key lookup and signature), so a status other than OK and
// BadSignature says nothing about whether the token was authentic.
type Status uint8

// The statuses Verify returns. Their String forms are stable snake_case
// names meant for audit records and metrics labels.
const (
	OK              Status = iota // token verified; Claims are valid
	Malformed                     // not three base64url segments of JSON objects
	Oversized                     // longer than Config.MaxTokenBytes
	Duplicate                     // a header or claim name appears twice (RFC 7515 §4, RFC 7519 §4)
	BadHeader                     // jku, x5u, jwk, x5c, crit, b64, zip, enc or nested cty present
	BadAlgorithm                  // alg is none, unknown, not allowed for the issuer, or does not fit the key
	BadType                       // typ header not accepted for the issuer, or an ID token's claim without Issuer.Types
	BadIssuer                     // iss missing or not a configured issuer
	BadClaim                      // a registered or configured claim has the wrong JSON type or range
	MissingExpiry                 // no exp claim (required, RFC 8725 §3.10 practice)
	Expired                       // now is at or after exp (+ skew)
	NotYetValid                   // now is before nbf or iat (- skew)
	BadAudience                   // no aud value is among the issuer's Audiences
	TooLong                       // exp - iat (or exp - now) exceeds the issuer's MaxLifetime
	UnknownKey                    // no key with that kid, even after a refetch
	KeysUnavailable               // the issuer's keys are older than MaxStale or were never fetched
	BadSignature                  // signature does not verify
	numStatus
)

// NumStatus is the number of Status values, for tables indexed by them.
const NumStatus = int(numStatus)

var statusNames = [numStatus]string{
	OK:              "ok",
	Malformed:       "malformed",
	Oversized:       "oversized",
	Duplicate:       "duplicate",
	BadHeader:       "bad_header",
	BadAlgorithm:    "bad_algorithm",
	BadType:         "bad_type",
	BadIssuer:       "bad_issuer",
	BadClaim:        "bad_claim",
	MissingExpiry:   "missing_expiry",
	Expired:         "expired",
	NotYetValid:     "not_yet_valid",
	BadAudience:     "bad_audience",
	TooLong:         "too_long",
	UnknownKey:      "unknown_key",
	KeysUnavailable: "keys_unavailable",
	BadSignature:    "bad_signature",
}

// String returns the snake_case name of s, or "unknown" for a value out of
// range. It does not allocate.
func (s Status) String() string {
	if s >= numStatus {
		return "unknown"
	}
	return statusNames[s]
}
