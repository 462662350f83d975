package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testIss = "https://issuer.test"
	testAud = "api://portcullis"
)

var testHMAC = []byte("0123456789abcdef0123456789abcdef-hs256")

// testKey is a signing key with its public JWK.
type testKey struct {
	alg  string
	kid  string
	priv any // *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or []byte
}

var (
	rsaOnce = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
		a, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		b, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return a, b
	})
	ecOnce = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	edOnce = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// testKeys returns one key per supported algorithm.
func testKeys() map[string]testKey {
	r1, _ := rsaOnce()
	return map[string]testKey{
		"RS256": {alg: "RS256", kid: "rsa-1", priv: r1},
		"PS256": {alg: "PS256", kid: "rsa-1", priv: r1},
		"ES256": {alg: "ES256", kid: "ec-1", priv: ecOnce()},
		"EdDSA": {alg: "EdDSA", kid: "ed-1", priv: edOnce()},
		"HS256": {alg: "HS256", priv: testHMAC},
	}
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf returns the public JWK of k as a map.
func jwkOf(k testKey) map[string]any {
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		return map[string]any{"kty": "RSA", "kid": k.kid, "use": "sig",
			"n": enc(p.N.Bytes()), "e": enc(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PrivateKey:
		b, _ := p.PublicKey.Bytes()
		return map[string]any{"kty": "EC", "kid": k.kid, "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])}
	case ed25519.PrivateKey:
		return map[string]any{"kty": "OKP", "kid": k.kid, "crv": "Ed25519", "x": enc(p.Public().(ed25519.PublicKey))}
	}
	panic("no jwk for " + k.alg)
}

// jwks builds a JWK Set of the public keys of ks.
func jwks(ks ...testKey) []byte {
	var keys []map[string]any
	for _, k := range ks {
		keys = append(keys, jwkOf(k))
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// signRaw signs the given header and payload JSON text verbatim with k.
func signRaw(k testKey, headerJSON, payloadJSON string) []byte {
	input := enc([]byte(headerJSON)) + "." + enc([]byte(payloadJSON))
	return []byte(input + "." + enc(rawSig(k, []byte(input))))
}

func rawSig(k testKey, input []byte) []byte {
	d := sha256.Sum256(input)
	var sig []byte
	var err error
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		if k.alg == "PS256" {
			sig, err = rsa.SignPSS(rand.Reader, p, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, d[:])
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, p, d[:])
		if n := p.Curve.Params().N; err == nil && s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
			s.Sub(n, s) // low-S: its fingerprint is that of the token's bytes (tokenFingerprint)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(p, input)
	case []byte:
		m := hmac.New(sha256.New, p)
		m.Write(input)
		sig = m.Sum(nil)
	}
	if err != nil {
		panic(err)
	}
	return sig
}

// sign marshals header and claims (adding alg and kid from k) and signs.
func sign(k testKey, header, claims map[string]any) []byte {
	h := map[string]any{"alg": k.alg, "typ": "at+jwt"}
	if k.kid != "" {
		h["kid"] = k.kid
	}
	for n, v := range header {
		if v == nil {
			delete(h, n)
		} else {
			h[n] = v
		}
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	return signRaw(k, string(hb), string(cb))
}

// claimsAt returns valid claims for now, with overrides (nil deletes).
func claimsAt(now time.Time, over map[string]any) map[string]any {
	c := map[string]any{
		"iss": testIss, "aud": testAud, "sub": "user-1", "client_id": "client-1",
		"tenant": "tenant-1", "jti": "jti-1", "scope": "read write",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	for n, v := range over {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	return c
}

// provider is a JWKS server on loopback whose key set and health can be
// changed and whose requests are counted.
type provider struct {
	srv    *httptest.Server
	keys   atomic.Pointer[[]byte]
	down   atomic.Bool
	count  atomic.Int64
	hang   atomic.Pointer[chan struct{}] // when set, requests wait for it to close
	notify atomic.Pointer[chan struct{}] // when set, gets a value per request
}

func newProvider(t testing.TB, set []byte) *provider {
	t.Helper()
	p := &provider{}
	p.keys.Store(&set)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count.Add(1)
		if n := p.notify.Load(); n != nil {
			select {
			case *n <- struct{}{}:
			default:
			}
		}
		if h := p.hang.Load(); h != nil {
			select {
			case <-*h:
			case <-r.Context().Done():
			}
		}
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(*p.keys.Load())
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) set(b []byte) { p.keys.Store(&b) }

// testIssuer returns an issuer allowing every algorithm with its keys at
// jwksURL.
func testIssuer(jwksURL string) Issuer {
	return Issuer{
		ID: "test", URL: testIss, JWKSURL: jwksURL, Audiences: []string{testAud},
		Algorithms: []string{"RS256", "PS256", "ES256", "EdDSA", "HS256"},
		HMACSecret: testHMAC, ClockSkew: 30 * time.Second, MaxLifetime: time.Hour,
	}
}

// newTestVerifier starts a verifier for iss and closes it at cleanup.
func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	if cfg.RefetchWait == 0 {
		// Tests judge what is fetched and accepted, not how fast: on a
		// loaded machine under -race a loopback fetch can take seconds.
		cfg.RefetchWait = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		// The same for the fetch itself: the default client gives up
		// after 5 s (TestKeyRotation and TestCacheFront failed so at load
		// average 20).
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	v.Start(t.Context())
	t.Cleanup(v.Close)
	return v
}

// allKeysVerifier serves every test key from a provider.
func allKeysVerifier(t testing.TB) (*Verifier, *provider, map[string]testKey) {
	t.Helper()
	ks := testKeys()
	p := newProvider(t, jwks(ks["RS256"], ks["ES256"], ks["EdDSA"]))
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: time.Hour})
	return v, p, ks
}

func rsaOnceFirst() *rsa.PrivateKey { a, _ := rsaOnce(); return a }
func rsaSecond() *rsa.PrivateKey    { _, b := rsaOnce(); return b }

func rsaGenerate(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
