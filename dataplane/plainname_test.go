package dataplane

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// plainName answers as the two bytes.IndexByte calls readHead made before
// it: on names of 0 to 40 bytes with one or two bytes set, at every place,
// to values around ' ' and '_' and to ones that carry or borrow (0x00,
// 0x01, 0x7f, 0x80, 0xa0, 0xdf, 0xff), and on 200,000 random names.
func TestPlainNameSame(t *testing.T) {
	t.Parallel()
	want := func(k []byte) bool { return bytes.IndexByte(k, ' ') < 0 && bytes.IndexByte(k, '_') < 0 }
	check := func(k []byte) {
		if got := plainName(k); got != want(k) {
			t.Fatalf("plainName(%q) = %v, want %v", k, got, !got)
		}
	}
	odd := []byte{' ', '_', 0x00, 0x01, 0x1f, 0x21, 0x5e, 0x60, 0x7f, 0x80, 0xa0, 0xdf, 0xff, 'a'}
	for n := range 41 {
		k := bytes.Repeat([]byte("a"), n)
		check(k)
		for i := range n {
			for _, c := range odd {
				k[i] = c
				check(k)
				for j := i + 1; j < n && j < i+10; j++ {
					for _, d := range odd {
						k[j] = d
						check(k)
					}
					k[j] = 'a'
				}
			}
			k[i] = 'a'
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		k := make([]byte, r.IntN(40))
		for i := range k {
			k[i] = byte(r.IntN(256))
			if r.IntN(4) > 0 {
				k[i] = "Content-Type"[r.IntN(12)]
			}
		}
		check(k)
	}
}
