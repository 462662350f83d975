package main

import (
	"strings"
	"testing"
)

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

// sidecar --help showed --spool-max as "(default 268435456)" and a full
// spool said "over the 1048576 byte limit" where the user wrote 256MiB and
// 1MiB. Both now say a size in the unit it divides into.
func TestSpoolMaxShownAsWritten(t *testing.T) {
	t.Parallel()
	r := portcullis(t, "", nil, "sidecar", "--help")
	if !strings.Contains(r.stdout, "(default 256MiB)") || strings.Contains(r.stdout, "268435456") {
		t.Errorf("sidecar --help = %q, want --spool-max (default 256MiB)", r.stdout)
	}
	for in, want := range map[string]string{"256MiB": "256MiB", "1GiB": "1GiB", "1536KiB": "1536KiB", "100MB": "100MB", "1000": "1KB", "5B": "5B"} {
		var b byteSize
		if err := b.Set(in); err != nil || b.String() != want {
			t.Errorf("Set(%q).String() = %q, %v; want %q", in, b.String(), err, want)
		}
	}
}
