package jwt

import "encoding/binary"

// equalCT reports whether a and b are equal, in time that depends only on
// their lengths. subtle.ConstantTimeCompare goes a byte at a time; this
// folds the XOR of 32 bytes per step into one word and branches once, at
// the end, which also beats XORBytes into a buffer and a second pass over
// it (BenchmarkHitCompare; docs/performance.md).
func equalCT(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var d0, d1, d2, d3 uint64
	for len(a) >= 32 && len(b) >= 32 {
		d0 |= binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		d1 |= binary.LittleEndian.Uint64(a[8:]) ^ binary.LittleEndian.Uint64(b[8:])
		d2 |= binary.LittleEndian.Uint64(a[16:]) ^ binary.LittleEndian.Uint64(b[16:])
		d3 |= binary.LittleEndian.Uint64(a[24:]) ^ binary.LittleEndian.Uint64(b[24:])
		a, b = a[32:], b[32:]
	}
	for len(a) >= 8 && len(b) >= 8 {
		d0 |= binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		a, b = a[8:], b[8:]
	}
	for i := range a {
		d0 |= uint64(a[i] ^ b[i])
	}
	return d0|d1|d2|d3 == 0 // one comparison of the folded difference
}
