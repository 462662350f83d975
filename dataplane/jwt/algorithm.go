package jwt

import "strings"

// algorithm is a JWS "alg" value this package can verify (RFC 7518 §3.1,
// RFC 8037 §3.1).
type algorithm uint8

const (
	algInvalid algorithm = iota
	algRS256
	algPS256
	algES256
	algEdDSA
	algHS256
)

var algNames = [...]string{
	algRS256: "RS256",
	algPS256: "PS256",
	algES256: "ES256",
	algEdDSA: "EdDSA",
	algHS256: "HS256",
}

// parseAlg maps an exact, case-sensitive alg name to an algorithm.
// Anything else, "none" in any spelling included, is algInvalid.
func parseAlg(s string) algorithm {
	for a := algRS256; a <= algHS256; a++ {
		if algNames[a] == s {
			return a
		}
	}
	return algInvalid
}

// isNone reports whether s names the unsecured algorithm in any case.
func isNone(s string) bool { return strings.EqualFold(s, "none") }

func (a algorithm) String() string { return algNames[a] }

// bit returns a's bit in an issuer's allowed-algorithm mask.
func (a algorithm) bit() uint8 { return 1 << a }

// keyKind is the key type an algorithm needs, so that a token can never
// choose how a key is used (RFC 8725 §3.1: no RS/HS confusion).
func (a algorithm) keyKind() keyKind {
	switch a {
	case algRS256, algPS256:
		return kindRSA
	case algES256:
		return kindEC
	case algEdDSA:
		return kindEd
	}
	return kindNone
}
