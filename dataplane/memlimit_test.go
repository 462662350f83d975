package dataplane

import (
	"os"
	"path/filepath"
	"testing"
)

// The README's figures for the default --max-conns: 64 KiB a connection
// (96 KiB on a TLS listener) beyond 48 MiB, at least 256, at most 10000,
// so 1280 under the injector's 128Mi (853 with TLS), from cgroup v2's
// memory.max or else v1's memory.limit_in_bytes. TestMaxConnsFitMemoryLimit
// checks only that the cap fits the limit, which a smaller cap does too.
func TestDefaultMaxConnsFollowsMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	v2, v1 := filepath.Join(dir, "memory.max"), filepath.Join(dir, "memory", "memory.limit_in_bytes")
	if err := os.Mkdir(filepath.Dir(v1), 0o755); err != nil {
		t.Fatal(err)
	}
	old := cgroupRoot
	cgroupRoot = dir
	t.Cleanup(func() { cgroupRoot = old })
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, v2, v1   string // "" leaves the file out
		plain, withTLS int
	}{
		{"128Mi, v2", "134217728\n", "", 1280, 853},
		{"128Mi, v1 only", "", "134217728\n", 1280, 853},
		{"v2 says max", "max\n", "134217728\n", 10000, 10000},
		{"v1 without a limit", "", "9223372036854771712\n", 10000, 10000},
		{"32Mi: at least 256", "33554432\n", "", 256, 256},
		{"8Gi: at most 10000", "8589934592\n", "", 10000, 10000},
		{"none", "", "", 10000, 10000},
	} {
		os.Remove(v2)
		os.Remove(v1)
		if c.v2 != "" {
			write(v2, c.v2)
		}
		if c.v1 != "" {
			write(v1, c.v1)
		}
		if got, gotTLS := defaultMaxConns(false), defaultMaxConns(true); got != c.plain || gotTLS != c.withTLS {
			t.Errorf("%s: default --max-conns %d, with TLS %d; want %d and %d", c.name, got, gotTLS, c.plain, c.withTLS)
		}
	}
}
