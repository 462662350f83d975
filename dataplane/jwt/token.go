package jwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// b64 decodes JWS segments: base64url without padding (RFC 7515 §2), and
// strict, so that every segment has exactly one encoding and a token
// cannot be altered without changing its signing input.
var b64 = base64.RawURLEncoding.Strict()

// token is a JWS compact serialization split and decoded, before any
// issuer-specific check.
type token struct {
	input   []byte // header.payload: the signing input, aliasing the caller's token
	sig     []byte
	header  header
	members map[string]json.RawMessage // payload claims by name
}

// header holds the JOSE header fields this package acts on.
type header struct {
	alg    algorithm
	kid    string
	hasKID bool
	typ    string // normalised with normType
	hasTyp bool
}

// parse splits and decodes raw without looking up an issuer or key.
// Every byte must be base64url or one of the two dots: encoding/base64
// skips CR and LF anywhere, so a line break in the signature segment,
// which the signing input does not cover, spelled the same token a
// second way, under another fingerprint (TestTokenHasOneSpelling).
func parse(raw []byte) (*token, Status) {
	h, p, s, ok := split(raw)
	if !ok || !base64URLOnly(raw) {
		return nil, Malformed
	}
	t := &token{input: raw[:len(h)+1+len(p)]}
	hb, ok := decodeSegment(h)
	if !ok || !utf8.Valid(hb) {
		return nil, Malformed
	}
	if st := t.header.parse(hb); st != OK {
		return nil, st
	}
	// RFC 7519 section 7.2: header and claims are UTF-8. encoding/json
	// reads a byte that is not as U+FFFD, so "client_id\xff" was another
	// name than "client_id" here, and the same name to a parser that drops
	// such bytes (PHP's JSON_INVALID_UTF8_IGNORE), which then read two.
	pb, ok := decodeSegment(p)
	if !ok || !utf8.Valid(pb) {
		return nil, Malformed
	}
	var st Status
	if t.members, st = members(pb); st != OK {
		return nil, st
	}
	if t.sig, ok = decodeSegment(s); !ok || len(t.sig) == 0 {
		return nil, Malformed
	}
	return t, OK
}

// split cuts raw at its two dots. It fails unless there are exactly two
// and the header and payload are non-empty.
func split(raw []byte) (h, p, s []byte, ok bool) {
	h, rest, ok := bytes.Cut(raw, []byte{'.'})
	if !ok {
		return nil, nil, nil, false
	}
	p, s, ok = bytes.Cut(rest, []byte{'.'})
	if !ok || len(h) == 0 || len(p) == 0 || bytes.IndexByte(s, '.') >= 0 {
		return nil, nil, nil, false
	}
	return h, p, s, true
}

// base64URLOnly reports whether every byte of raw is base64url or a dot.
func base64URLOnly(raw []byte) bool {
	for _, c := range raw {
		if shapeClass[c] == classOther {
			return false
		}
	}
	return true
}

func decodeSegment(seg []byte) ([]byte, bool) {
	out := make([]byte, b64.DecodedLen(len(seg)))
	n, err := b64.Decode(out, seg)
	return out[:n], err == nil
}

// members decodes a JSON object into its members, rejecting duplicate
// names. encoding/json keeps the last duplicate silently; RFC 7515 §4 and
// RFC 7519 §4 allow rejecting, and a token whose "exp" or "scope" differs
// between parsers is an attack (RFC 8725 §2.8). Names are compared after
// JSON unescaping, so "\u0065xp" duplicates "exp", and under Unicode case
// folding, so "Client_ID" and "ſcope" (long s) duplicate "client_id" and
// "scope": this package reads a name exactly, encoding/json decoding into
// a struct (a Go service reading a forwarded token) matches it so and
// keeps the last (TestClaimNamesEqualUnderCaseFoldingRefused).
func members(b []byte) (map[string]json.RawMessage, Status) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, Malformed
	}
	m := make(map[string]json.RawMessage, 8)
	folded := make(map[string]bool, 8)
	for dec.More() {
		tok, err := dec.Token()
		name, isName := tok.(string)
		if err != nil || !isName {
			return nil, Malformed
		}
		if strings.ContainsFunc(name, unicode.IsControl) {
			// "client_id\u0000" is "client_id" to a parser keeping names
			// as C strings (TestClaimNameWithControlCharacterRefused).
			return nil, Malformed
		}
		f := foldName(name)
		if folded[f] {
			return nil, Duplicate
		}
		folded[f] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, Malformed
		}
		m[name] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, Malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Malformed // trailing data after the object
	}
	return m, OK
}

// foldName spells s one way for all the names strings.EqualFold calls
// equal to it: each rune as the least of its Unicode simple case folding
// orbit ('K', 'k' and the Kelvin sign as 'K').
func foldName(s string) string {
	b := make([]rune, 0, len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b = append(b, least)
	}
	return string(b)
}

// forbiddenHeaders are header parameters that would let a token choose
// its own key or change how it is processed. jku/x5u would make us fetch
// a URL named by the token, jwk/x5c would make it carry its own key
// (RFC 8725 §3.10); crit names extensions, none of which we implement
// (RFC 7515 §4.1.11); b64 is RFC 7797; zip and enc belong to JWE. All are
// refused outright rather than ignored, and never cause a fetch. They are
// matched, as cty is, under Unicode case folding (strings.EqualFold):
// "JKU" is no duplicate of anything, yet a library reading header names
// ignoring case (encoding/json into a struct) acts on it as jku
// (TestForbiddenHeaderNamesInAnyCase). members refuses two names equal so,
// so at most one member is each.
var forbiddenHeaders = [...]string{"jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc"}

// readHeaders are the header parameters this package reads, by their
// exact names: JOSE names are case sensitive (RFC 7515 §4), so "KID" is
// no kid. A header holding one in another case is Malformed: a lone "KID"
// naming no key was a token without kid here, verified by the issuer's
// only key fitting its alg, and a lone "TYP": "logout+jwt" an untyped
// token, while a library reading names ignoring case reads a kid and a
// typ (TestJOSENameCaseVariantsRefused). With the exact name beside it,
// members refuses the pair as a Duplicate.
var readHeaders = [...]string{"alg", "kid", "typ"}

// caseVariant reports whether name is exact in another case (under
// Unicode case folding, as strings.EqualFold and encoding/json compare):
// what a reader ignoring case takes for exact, and this package does not.
func caseVariant(name, exact string) bool {
	return name != exact && strings.EqualFold(name, exact)
}

// parse decodes the JOSE header in b into h.
func (h *header) parse(b []byte) Status {
	m, st := members(b)
	if st != OK {
		return st
	}
	var cty json.RawMessage
	hasCty := false
	for name, raw := range m {
		for _, f := range forbiddenHeaders {
			if strings.EqualFold(name, f) {
				return BadHeader
			}
		}
		if strings.EqualFold(name, "cty") {
			cty, hasCty = raw, true
		}
		for _, r := range readHeaders {
			if caseVariant(name, r) {
				return Malformed
			}
		}
	}
	if st := h.parseAlg(m["alg"]); st != OK {
		return st
	}
	if hasCty {
		// Nested JWTs are not supported. RFC 7515 §4.1.10: "application/"
		// is implied, so "application/jwt" is "JWT" too; and a media
		// type may carry parameters, with blanks around them to a MIME
		// parser (mime.ParseMediaType), so "JWT; charset=utf-8" and
		// " JWT" are JWT as well (TestNestedJWTMediaTypeRefused).
		s, ok := jsonString(cty)
		mediaType, _, _ := strings.Cut(s, ";")
		if !ok || normType(strings.TrimSpace(mediaType)) == "jwt" {
			return BadHeader
		}
	}
	return h.parseKidTyp(m)
}

func (h *header) parseAlg(raw json.RawMessage) Status {
	s, ok := jsonString(raw)
	if !ok {
		return Malformed
	}
	h.alg = parseAlg(s)
	if h.alg == algInvalid || isNone(s) {
		return BadAlgorithm
	}
	return OK
}

func (h *header) parseKidTyp(m map[string]json.RawMessage) Status {
	var ok bool
	if raw, present := m["kid"]; present {
		// kid is only ever a map key into the issuer's key set: never a
		// path, URL or query (RFC 8725 §3.10).
		if h.kid, ok = jsonString(raw); !ok {
			return BadHeader
		}
		h.hasKID = true
	}
	if raw, present := m["typ"]; present {
		if h.typ, ok = jsonString(raw); !ok {
			return BadType
		}
		h.typ, h.hasTyp = normType(h.typ), true
	}
	return OK
}

// jsonString decodes raw if and only if it is a JSON string; null, which
// encoding/json would quietly turn into "", is not.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}
