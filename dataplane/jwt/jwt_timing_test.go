package jwt

import (
	"crypto/sha256"
	"crypto/subtle"
	"testing"
	"time"
)

// BenchmarkJWTCached measures Verify of a token already in the cache:
// the per-request cost once a token has been seen.
func BenchmarkJWTCached(b *testing.B) {
	v, _, ks := allKeysVerifier(b)
	now := time.Now()
	tok := sign(ks["RS256"], nil, claimsAt(now, nil))
	if _, st := v.Verify(tok, now); st != OK {
		b.Fatal(st)
	}
	v.WaitCache()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, st := v.Verify(tok, now); st != OK {
				b.Fatal(st)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, st := v.Verify(tok, now); st != OK {
					b.Fatal(st)
				}
			}
		})
	})
}

// BenchmarkJWTVerify measures the full verification per algorithm,
// bypassing the cache: the cost of a token's first use.
func BenchmarkJWTVerify(b *testing.B) {
	v, _, ks := allKeysVerifier(b)
	now := time.Now()
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA", "HS256"} {
		tok := sign(ks[alg], nil, claimsAt(now, nil))
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := v.verify(tok, now); r.status != OK {
					b.Fatal(r.status)
				}
			}
		})
	}
}

// BenchmarkJWTForged measures Verify of a token of a known issuer and
// kid, with valid claims and a wrong signature: what each request of
// someone without a credential costs when it gets past every cheap check
// (never cached, so every request pays the signature check again).
func BenchmarkJWTForged(b *testing.B) {
	v, _, ks := allKeysVerifier(b)
	now := time.Now()
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA", "HS256"} {
		tok := sign(ks[alg], nil, claimsAt(now, nil))
		tok[len(tok)-2] ^= 'A' ^ 'B' // still base64url; a bit of the signature changed
		if tok[len(tok)-2] == tok[len(tok)-1] {
			tok[len(tok)-2] ^= 'A' ^ 'C'
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, st := v.Verify(tok, now); st != BadSignature {
					b.Fatal(st)
				}
			}
		})
	}
}

// BenchmarkHitCompare compares the two ways of confirming a cache hit
// against the presented token: byte-wise and vectorised (equalCT, used)
// constant-time compares of a stored copy, and comparing SHA-256 digests.
func BenchmarkHitCompare(b *testing.B) {
	tok := sign(testKeys()["RS256"], nil, claimsAt(time.Now(), nil))
	stored := append([]byte(nil), tok...)
	digest := sha256.Sum256(tok)
	b.Run("constant_time", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(tok)))
		for b.Loop() {
			if subtle.ConstantTimeCompare(stored, tok) != 1 {
				b.Fatal("mismatch")
			}
		}
	})
	b.Run("equalCT", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(tok)))
		for b.Loop() {
			if !equalCT(stored, tok) {
				b.Fatal("mismatch")
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(tok)))
		for b.Loop() {
			if sha256.Sum256(tok) != digest {
				b.Fatal("mismatch")
			}
		}
	})
}

func BenchmarkLooksLikeJWT(b *testing.B) {
	tok := sign(testKeys()["HS256"], nil, claimsAt(time.Now(), nil))
	b.ReportAllocs()
	b.SetBytes(int64(len(tok)))
	for b.Loop() {
		if !LooksLikeJWT(tok) {
			b.Fatal("not a JWT")
		}
	}
}
