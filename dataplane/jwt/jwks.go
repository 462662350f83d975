package jwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// keyKind is the type of a verification key.
type keyKind uint8

const (
	kindNone keyKind = iota
	kindRSA
	kindEC
	kindEd
)

// RSA modulus bounds: RFC 8725 §3.5 and NIST SP 800-57 want 2048 bits at
// least; the upper bound keeps a hostile JWKS from making every
// verification slow.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// maxJWKSKeys bounds the entries of a JWK Set. Providers publish a few
// keys (the current ones and the next); a set of thousands is refused
// whole, so that a broken or hostile endpoint cannot make each refresh
// parse and compare thousands of keys or a request wait on that.
const maxJWKSKeys = 100

// maxSkipReasons bounds how many reasons for skipped keys an error lists,
// and maxQuoted how much of a JWKS value one quotes, so that a log line
// reporting a fetch stays short whatever the set holds.
const (
	maxSkipReasons = 3
	maxQuoted      = 32
)

// key is one verification key from a JWKS. It is immutable.
type key struct {
	kid    string
	hasKID bool
	alg    algorithm // from the JWK "alg"; algInvalid when absent
	kind   keyKind
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	raw    []byte // key material, to tell a changed key from the same one
}

// keySet is an immutable set of keys, swapped whole on refresh.
type keySet struct {
	byKID map[string][]*key
	all   []*key
}

// jwk is the subset of RFC 7517 / RFC 7518 §6 members we read.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    *string  `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// errNoUsableKey is parseJWKS's error for a well-formed set that holds no
// usable key.
var errNoUsableKey = errors.New("jwks has no usable key")

// parseJWKS parses a JWK Set. Keys that are unusable (unknown kty or crv,
// oct, encryption keys, RSA under 2048 bits, bad encodings) are skipped
// as RFC 7517 §5 advises. A set with no usable key is an error wrapping
// errNoUsableKey, returned with the empty set: for a fetched JWKS that is
// the provider withdrawing every key (the issuer's tokens are then
// refused), not a failed fetch. A document without a "keys" array is not
// a set.
func parseJWKS(b []byte) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("cannot parse jwks: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`cannot parse jwks: no "keys" array`)
	}
	if m, st := members(b); st != OK || m["keys"] == nil {
		// "keys" twice, or "KEYS" (which encoding/json read for it) beside
		// or instead of it: a JOSE library reads another set.
		return nil, errors.New(`cannot parse jwks: "keys" twice or in another case`)
	}
	if len(doc.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("jwks holds %d keys, more than the %d accepted", len(doc.Keys), maxJWKSKeys)
	}
	ks := &keySet{byKID: make(map[string][]*key)}
	var skipped []error
	for i, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			if len(skipped) < maxSkipReasons {
				skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			}
			continue
		}
		ks.add(k)
	}
	if len(ks.all) == 0 {
		if len(doc.Keys) > len(skipped) {
			skipped = append(skipped, fmt.Errorf("and %d more", len(doc.Keys)-len(skipped)))
		}
		return ks, fmt.Errorf("%w among %d: %w", errNoUsableKey, len(doc.Keys), errors.Join(skipped...))
	}
	return ks, nil
}

// quoted quotes a value read from a JWKS for an error, cut to maxQuoted
// bytes.
func quoted(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}

func (ks *keySet) add(k *key) {
	ks.all = append(ks.all, k)
	if k.hasKID {
		ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
	}
}

// jwkMembers are the JWK members parseJWK reads (the fields of jwk), by
// their exact names.
var jwkMembers = [...]string{"kty", "kid", "alg", "use", "key_ops", "crv", "n", "e", "x", "y"}

// privateMembers are the JWK members that hold private or secret key
// material (RFC 7518 §6.2.2, §6.3.2 and §6.4.1, RFC 8037 §2). A key set
// is published for anyone to read (RFC 7517 §9.2 holds private keys out
// of it), so a key carrying one is a key anyone can sign with: a provider
// that pasted a whole key pair into its JWKS let every reader of the URL
// mint tokens this package accepted (TestJWKSPrivateKeyRefused). Such a
// key is skipped, in any case of the name, as a library reading names
// ignoring case reads "D" for d.
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseJWK parses one signature verification key. Its members are read
// by their exact names, as RFC 7517 has them, each once: encoding/json
// fills a struct matching names ignoring case and keeps the last, so
// "use":"enc" followed by "USE":"sig" was a signing key here and an
// encryption key to a JOSE library reading "use"; a key with a member
// twice (under Unicode case folding, as a token's names are compared) or
// a read member in another case is skipped.
func parseJWK(raw json.RawMessage) (*key, error) {
	m, st := members(raw)
	if st != OK {
		return nil, errors.New("a member twice, or not a JSON object")
	}
	for name := range m {
		for _, r := range jwkMembers {
			if caseVariant(name, r) {
				return nil, fmt.Errorf("member %s is %q in another case", quoted(name), r)
			}
		}
		for _, p := range privateMembers {
			if strings.EqualFold(name, p) {
				return nil, fmt.Errorf("member %s is private key material: whoever reads the set can sign with the key", quoted(name))
			}
		}
	}
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	if err := j.checkUsage(); err != nil {
		return nil, err
	}
	k, err := j.material()
	if err != nil {
		return nil, err
	}
	if j.Kid != nil {
		k.kid, k.hasKID = *j.Kid, true
	}
	if j.Alg != "" {
		if k.alg = parseAlg(j.Alg); k.alg == algInvalid || k.alg.keyKind() != k.kind {
			return nil, fmt.Errorf("alg %s does not fit kty %s", quoted(j.Alg), quoted(j.Kty))
		}
	}
	return k, nil
}

// checkUsage rejects keys marked for anything but verification.
func (j *jwk) checkUsage() error {
	if j.Use != "" && j.Use != "sig" {
		return fmt.Errorf("use %s is not sig", quoted(j.Use))
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return fmt.Errorf("key_ops %s lacks verify", quoted(strings.Join(j.KeyOps, " ")))
	}
	return nil
}

// material decodes the public key by kty. "oct" is refused: an HMAC
// secret only ever comes from Issuer.HMACSecret.
func (j *jwk) material() (*key, error) {
	switch j.Kty {
	case "RSA":
		return j.rsaKey()
	case "EC":
		return j.ecKey()
	case "OKP":
		return j.edKey()
	}
	return nil, fmt.Errorf("unsupported kty %s", quoted(j.Kty))
}

func (j *jwk) rsaKey() (*key, error) {
	n, err1 := decodeJWKField(j.N)
	e, err2 := decodeJWKField(j.E)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("rsa: %w", err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
	if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("rsa: modulus of %d bits outside [%d, %d]", bits, minRSABits, maxRSABits)
	}
	ev := new(big.Int).SetBytes(e)
	if !ev.IsInt64() || ev.Int64() < 3 || ev.Int64() > 1<<31-1 || ev.Bit(0) == 0 {
		return nil, errors.New("rsa: bad public exponent")
	}
	pub.E = int(ev.Int64())
	return &key{kind: kindRSA, rsa: pub, raw: slices.Concat(n, []byte{'.'}, e)}, nil
}

func (j *jwk) ecKey() (*key, error) {
	if j.Crv != "P-256" {
		return nil, fmt.Errorf("ec: unsupported crv %s", quoted(j.Crv))
	}
	x, err1 := decodeJWKField(j.X)
	y, err2 := decodeJWKField(j.Y)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("ec: %w", err)
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("ec: x and y must be 32 bytes") // RFC 7518 §6.2.1.2
	}
	point := slices.Concat([]byte{4}, x, y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("ec: %w", err)
	}
	return &key{kind: kindEC, ec: pub, raw: point}, nil
}

func (j *jwk) edKey() (*key, error) {
	if j.Crv != "Ed25519" {
		return nil, fmt.Errorf("okp: unsupported crv %s", quoted(j.Crv))
	}
	x, err := decodeJWKField(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("okp: x must be 32 base64url bytes")
	}
	if err := checkEd25519Point(x); err != nil {
		return nil, fmt.Errorf("okp: %w", err)
	}
	return &key{kind: kindEd, ed: ed25519.PublicKey(x), raw: x}, nil
}

// Curve25519's field and the Edwards d, for checkEd25519Point.
var (
	edP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	edD = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), edP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, edP)
	}()
)

// checkEd25519Point refuses an encoded Ed25519 public key that is not on
// the curve or is of small order (order 1, 2, 4 or 8). crypto/ed25519
// accepts a small-order key, and under one anyone can forge: with the
// identity, R = identity and S = 0 verify every message. It works on
// (x², y) of -x² + y² = 1 + d·x²·y², which doubling needs without x:
// [2](x, y) has x² = 4x²y²/(y²-x²)² and y = (y²+x²)/(2+x²-y²), and a point
// is of small order when three doublings give the identity (0, 1).
// It runs once per key per fetch, never on a request.
func checkEd25519Point(enc []byte) error {
	le := slices.Clone(enc)
	le[31] &= 0x7f // the sign of x, which neither question depends on
	slices.Reverse(le)
	p := edP
	y := new(big.Int).SetBytes(le)
	y.Mod(y, p)
	mod := func(v *big.Int) *big.Int { return v.Mod(v, p) }
	div := func(a, b *big.Int) *big.Int { return mod(a.Mul(a, new(big.Int).ModInverse(b, p))) }
	y2 := mod(new(big.Int).Mul(y, y))
	// x² = (y² - 1) / (d·y² + 1); d is not a square, so the divisor is never 0.
	x2 := div(mod(new(big.Int).Sub(y2, big.NewInt(1))), mod(new(big.Int).Add(new(big.Int).Mul(edD, y2), big.NewInt(1))))
	if x2.Sign() != 0 && big.Jacobi(x2, p) != 1 {
		return errors.New("ed25519 key is not a point on the curve")
	}
	for range 3 {
		y2 = mod(new(big.Int).Mul(y, y))
		num := mod(new(big.Int).Mul(big.NewInt(4), new(big.Int).Mul(x2, y2)))
		den := mod(new(big.Int).Sub(y2, x2))
		den2 := mod(new(big.Int).Mul(den, den))
		ynum := mod(new(big.Int).Add(y2, x2))
		yden := mod(new(big.Int).Sub(new(big.Int).Add(big.NewInt(2), x2), y2))
		x2, y = div(num, den2), div(ynum, yden)
	}
	if x2.Sign() == 0 && y.Cmp(big.NewInt(1)) == 0 {
		return errors.New("ed25519 key of small order: anyone could forge its signatures")
	}
	return nil
}

// decodeJWKField decodes a base64url JWK member. Padding is tolerated
// because some providers emit it; the keys come from a configured source,
// not from a token.
func decodeJWKField(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing member")
	}
	return b64.DecodeString(strings.TrimRight(s, "="))
}

// maxKIDKeys bounds the keys one token is tried against. A provider
// rotating a key may publish the new key under the old one's kid beside
// it, so every key with the token's kid and a fitting alg is tried, in
// the JWKS's order, but no more than this many: a forged token with such
// a kid costs at most four signature verifications, still one unit of
// its source's failure budget.
const maxKIDKeys = 4

// find returns the keys a token's signature is to be tried against: those
// with its kid, of which the caller tries the first maxKIDKeys that fit
// its alg. A kid that is present but whose keys do not fit alg is
// BadAlgorithm, not UnknownKey, so that it never triggers a refetch. A
// token without kid matches only when exactly one key fits. The slice is
// the set's own; it is never written.
func (ks *keySet) find(h *header) ([]*key, Status) {
	if ks == nil {
		return nil, UnknownKey
	}
	if !h.hasKID {
		return ks.only(h.alg)
	}
	cands, ok := ks.byKID[h.kid]
	if !ok {
		return nil, UnknownKey
	}
	for _, k := range cands {
		if k.fits(h.alg) {
			return cands, OK
		}
	}
	return nil, BadAlgorithm
}

func (ks *keySet) only(a algorithm) ([]*key, Status) {
	found := -1
	for i, k := range ks.all {
		if k.fits(a) {
			if found >= 0 {
				return nil, UnknownKey // ambiguous without kid
			}
			found = i
		}
	}
	if found < 0 {
		return nil, UnknownKey
	}
	return ks.all[found : found+1], OK
}

// fits reports whether k may verify a token signed with a: the key type
// must match, and a JWK "alg" must equal the header's (RFC 8725 §3.1).
func (k *key) fits(a algorithm) bool {
	return k.kind == a.keyKind() && (k.alg == algInvalid || k.alg == a)
}

// lostKeys reports whether any key in old is missing or changed in ks, in
// which case tokens cached under old must be verified again.
func (ks *keySet) lostKeys(old *keySet) bool {
	if old == nil {
		return false
	}
	for _, o := range old.all {
		if !ks.has(o) {
			return true
		}
	}
	return false
}

func (ks *keySet) has(o *key) bool {
	for _, k := range ks.all {
		if k.kid == o.kid && k.hasKID == o.hasKID && k.alg == o.alg && bytes.Equal(k.raw, o.raw) {
			return true
		}
	}
	return false
}
