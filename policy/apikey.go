package policy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// API keys have the form pk_<id>_<secret>: <id> is 8-32 characters
// [a-z0-9] and names the key record, <secret> is at least 32 base62
// characters. Only the SHA-256 of the whole key is ever stored.
const (
	KeyPrefix       = "pk_"
	MinKeyIDLen     = 8
	MaxKeyIDLen     = 32
	MinSecretLen    = 32
	MaxKeyLen       = 256
	generatedSecret = 43 // base62 digits: about 256 bits
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// isBase62 marks the bytes of base62: one load per byte on the request path.
var isBase62 = func() (t [256]byte) {
	for i := range len(base62) {
		t[base62[i]] = 1
	}
	return t
}()

// SplitKey checks the shape of an API key and returns its id. It does not
// allocate; the id aliases key.
func SplitKey(key []byte) (id []byte, ok bool) {
	if id, ok = KeyID(key); !ok {
		return nil, false
	}
	valid := byte(1)
	for _, c := range key[len(KeyPrefix)+len(id)+1:] {
		valid &= isBase62[c] // no branch per byte
	}
	if valid == 0 {
		return nil, false
	}
	return id, true
}

// KeyID is SplitKey without the check of the secret's characters: it
// returns the id of a key whose prefix, id and lengths have the right
// shape. A verifier that already holds the exact bytes of a key that passed
// SplitKey may skip the rest; anything else must call SplitKey.
func KeyID(key []byte) (id []byte, ok bool) {
	if len(key) > MaxKeyLen || len(key) < len(KeyPrefix)+MinKeyIDLen+1+MinSecretLen || string(key[:3]) != KeyPrefix {
		return nil, false
	}
	rest := key[3:]
	i := 0
	for i < len(rest) && i <= MaxKeyIDLen && (rest[i] >= 'a' && rest[i] <= 'z' || rest[i] >= '0' && rest[i] <= '9') {
		i++
	}
	if i < MinKeyIDLen || i > MaxKeyIDLen || i >= len(rest) || rest[i] != '_' || len(rest)-i-1 < MinSecretLen {
		return nil, false
	}
	return rest[:i], true
}

// GenerateKey makes a new API key for client with a random id and secret,
// and the key record to store. The key itself is returned once and never
// kept; notAfter may be zero for no expiry.
func GenerateKey(client, createdBy, ticket string, notBefore, notAfter time.Time) (key string, spec KeySpec, err error) {
	id, err := randomString("abcdefghijklmnopqrstuvwxyz0123456789", 12)
	if err != nil {
		return "", KeySpec{}, err
	}
	secret, err := randomString(base62, generatedSecret)
	if err != nil {
		return "", KeySpec{}, err
	}
	key = KeyPrefix + id + "_" + secret
	sum := sha256.Sum256([]byte(key))
	spec = KeySpec{ID: id, Client: client, SHA256: hex.EncodeToString(sum[:]), CreatedBy: createdBy, Ticket: ticket}
	if !notBefore.IsZero() {
		spec.NotBefore = notBefore.UTC().Format(time.RFC3339)
	}
	if !notAfter.IsZero() {
		spec.NotAfter = notAfter.UTC().Format(time.RFC3339)
	}
	for _, t := range []string{spec.NotBefore, spec.NotAfter} {
		if _, err := parseTime(t); err != nil {
			return "", KeySpec{}, fmt.Errorf("key for client %q: %w", client, err) // its record would authenticate nothing
		}
	}
	return key, spec, nil
}

// randomString draws n characters of alphabet uniformly (rejection sampling).
func randomString(alphabet string, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	limit := byte(256 - 256%len(alphabet))
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("cannot read random bytes: %w", err)
		}
		for _, b := range buf {
			if b < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
