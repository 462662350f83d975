package dataplane

import (
	"math/rand/v2"
	"testing"
)

// validHostRef is validHost as req804 wrote it (a byte check and a
// colon's position in one loop, then the port's digits): the reference
// the class-table validHost of perf805 must agree with, leading zeros in a
// port refused (req805).
func validHostRef(v []byte) bool {
	colon := -1
	for i, c := range v {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':'
		if !ok {
			return false
		}
		if c == ':' {
			if colon >= 0 {
				return false
			}
			colon = i
		}
	}
	if colon < 0 {
		return true
	}
	if port := v[colon+1:]; len(port) > 1 && port[0] == '0' {
		return false // req805: leading zeros
	}
	n := 0
	for _, c := range v[colon+1:] {
		if c < '0' || c > '9' {
			return false
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return false
		}
	}
	return true
}

// TestValidHostSame holds validHost to validHostRef on every value of up
// to six bytes over the bytes it tells apart, and on 200,000 random ones
// of up to 24 bytes.
func TestValidHostSame(t *testing.T) {
	alphabet := []byte("a9:6-5@/0.Z")
	buf := make([]byte, 0, 24)
	var walk func(n int)
	walk = func(n int) {
		if got, want := validHost(buf), validHostRef(buf); got != want {
			t.Fatalf("validHost(%q) = %v, want %v", buf, got, want)
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			buf = append(buf, c)
			walk(n - 1)
			buf = buf[:len(buf)-1]
		}
	}
	walk(6)
	r := rand.New(rand.NewPCG(805, 1))
	for range 200_000 {
		buf = buf[:r.IntN(25)]
		for i := range buf {
			if r.IntN(2) == 0 {
				buf[i] = byte(r.IntN(256))
			} else {
				buf[i] = "0123456789:svc."[r.IntN(15)]
			}
		}
		if got, want := validHost(buf), validHostRef(buf); got != want {
			t.Fatalf("validHost(%q) = %v, want %v", buf, got, want)
		}
	}
}
