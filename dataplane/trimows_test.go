package dataplane

import (
	"bytes"
	"testing"
)

// trimOWSLoops is trimOWS before its fast path for a line's " value\r":
// the trailing CR, spaces and tabs, then the leading spaces and tabs.
func trimOWSLoops(v []byte) []byte {
	for len(v) > 0 && (v[len(v)-1] == '\r' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return v
}

// TestTrimOWSSame holds trimOWS to the two loops on every value of up to
// six bytes over the bytes they tell apart.
func TestTrimOWSSame(t *testing.T) {
	alphabet := []byte{' ', '\t', '\r', 'a', '\n'}
	var v []byte
	var walk func(n int)
	walk = func(n int) {
		if got, want := trimOWS(v), trimOWSLoops(v); !bytes.Equal(got, want) {
			t.Fatalf("trimOWS(%q) = %q, want %q", v, got, want)
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			v = append(v, c)
			walk(n - 1)
			v = v[:len(v)-1]
		}
	}
	walk(6)
}
