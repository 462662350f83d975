package dataplane

import (
	"fmt"
	"testing"
)

// Generated request ids carry the counter as 16 lower-case hex digits.
func TestAppendHex64(t *testing.T) {
	for _, n := range []uint64{0, 1, 9, 10, 15, 16, 0xabcdef, 1<<32 - 1, 1 << 32, 0x0123456789abcdef, 0xfedcba9876543210, 1<<64 - 1} {
		if got, want := string(appendHex64([]byte("p-"), n)), fmt.Sprintf("p-%016x", n); got != want {
			t.Errorf("appendHex64(%#x) = %q, want %q", n, got, want)
		}
	}
}
