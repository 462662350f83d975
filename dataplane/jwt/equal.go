package jwt

import (
	"crypto/subtle"
	"encoding/binary"
)

// equalChunk is the stack buffer equalCT XORs into.
const equalChunk = 256

// equalCT reports whether a and b are equal, in time that depends only on
// their lengths. subtle.ConstantTimeCompare goes a byte at a time (about
// 1 ns/byte here); XORBytes is vectorised and the fold reads 8 bytes at
// a time, which makes a cache hit on an 800-byte token several times
// cheaper (BenchmarkHitCompare).
func equalCT(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var buf [equalChunk]byte
	var diff uint64
	for len(a) > 0 {
		n := min(len(a), equalChunk)
		subtle.XORBytes(buf[:n], a[:n], b[:n])
		diff |= fold(buf[:n])
		a, b = a[n:], b[n:]
	}
	return diff == 0 // one comparison of the folded difference
}

// fold ORs the bytes of x together, 8 at a time.
func fold(x []byte) uint64 {
	var d uint64
	for len(x) >= 8 {
		d |= binary.LittleEndian.Uint64(x)
		x = x[8:]
	}
	for _, c := range x {
		d |= uint64(c)
	}
	return d
}
