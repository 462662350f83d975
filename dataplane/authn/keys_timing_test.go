package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// BenchmarkVerifyCached is a verification answered from the cache; compare
// with BenchmarkSHA256, what every request would cost without the cache
// (the design asked which is cheaper).
func BenchmarkVerifyCached(b *testing.B) {
	snap, keys := example(b, policy.Live{}), newKeys(b)
	now := time.Now().UnixNano()
	keys.Verify(snap, []byte(hrisKey), now)
	keys.Wait()
	key := []byte(hrisKey)
	b.ReportAllocs()
	for b.Loop() {
		if rec, _, _ := keys.Verify(snap, key, now); rec == nil {
			b.Fatal("not verified")
		}
	}
}

// BenchmarkSHA256 is the digest of one API key.
func BenchmarkSHA256(b *testing.B) {
	key := []byte(hrisKey)
	b.ReportAllocs()
	for b.Loop() {
		sha256.Sum256(key)
	}
}

// BenchmarkEqual compares the word-wise constant-time comparison with the
// standard library's on an API key.
func BenchmarkEqual(b *testing.B) {
	x, y := []byte(hrisKey), []byte(hrisKey)
	b.Run("equal", func(b *testing.B) {
		for b.Loop() {
			equal(x, y)
		}
	})
	b.Run("subtle", func(b *testing.B) {
		for b.Loop() {
			subtle.ConstantTimeCompare(x, y)
		}
	})
}
