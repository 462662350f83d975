package authn

import "encoding/binary"

// equal reports whether a and b hold the same bytes, in time that depends
// only on their lengths (lengths are not secret: key and digest sizes are
// public). It folds 8-byte words, about ten times faster than
// subtle.ConstantTimeCompare's byte loop on a 50-byte key
// (BenchmarkEqual in keys_timing_test.go): by index rather than by
// reslicing, and with the last word read overlapping the one before
// instead of a byte loop for the tail (issue 18).
func equal(a, b []byte) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	if n < 8 {
		var diff byte
		for i := range a {
			diff |= a[i] ^ b[i]
		}
		return diff == 0
	}
	b = b[:n]
	var diff uint64
	for i := 0; i < n-8; i += 8 {
		diff |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	diff |= binary.LittleEndian.Uint64(a[n-8:]) ^ binary.LittleEndian.Uint64(b[n-8:])
	return diff == 0
}
