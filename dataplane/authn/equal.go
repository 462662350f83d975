package authn

import "encoding/binary"

// equal reports whether a and b hold the same bytes, in time that depends
// only on their lengths (lengths are not secret: key and digest sizes are
// public). It folds 8-byte words, about ten times faster than
// subtle.ConstantTimeCompare's byte loop on a 50-byte key
// (BenchmarkEqual in keys_timing_test.go).
func equal(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var diff uint64
	for len(a) >= 8 {
		diff |= binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		a, b = a[8:], b[8:]
	}
	for i := range a {
		diff |= uint64(a[i] ^ b[i])
	}
	return diff == 0
}
