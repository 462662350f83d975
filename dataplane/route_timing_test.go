package dataplane

import (
	"testing"
)

// BenchmarkNormalizePath is the one path normalisation per request.
func BenchmarkNormalizePath(b *testing.B) {
	p := []byte("/v1//users/./%41b/../42")
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = normalizePath(dst, p)
	}
}
