package main

import "testing"

func TestByteSizeFlag(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1024": 1024, "256MiB": 256 << 20, "1GiB": 1 << 30, "10 KB": 10000, "5B": 5} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "1TiB", "lots"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}
