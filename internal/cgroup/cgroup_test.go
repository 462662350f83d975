package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMemoryLimit reads real files laid out as a container sees them: v2's
// memory.max at the root, v1's memory/memory.limit_in_bytes below it.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, v2, v1 string // "" leaves the file out
		want         int64
		from         string // the file read: "memory.max", "v1" or ""
		err          string // in the error, "" for none
	}{
		{name: "v2 number", v2: "134217728\n", want: 128 << 20, from: "memory.max"},
		{name: "v2 max", v2: "max\n", v1: "134217728\n", want: 0, from: "memory.max"},
		{name: "v2 before v1", v2: "268435456\n", v1: "134217728\n", want: 256 << 20, from: "memory.max"},
		{name: "v1 number", v1: "134217728\n", want: 128 << 20, from: "v1"},
		{name: "v1 unlimited, 4 KiB pages", v1: "9223372036854771712\n", want: 0, from: "v1"},
		{name: "v1 unlimited, 64 KiB pages", v1: "9223372036854710272\n", want: 0, from: "v1"},
		{name: "missing", want: 0, from: ""},
		{name: "v2 garbage", v2: "128Mi\n", v1: "134217728\n", from: "memory.max", err: `"128Mi" is not a number of bytes or "max"`},
		{name: "v1 garbage", v1: "lots\n", from: "v1", err: `"lots" is not a number of bytes`},
		{name: "v2 empty", v2: "\n", from: "memory.max", err: `"" is not a number of bytes`},
		{name: "v2 zero", v2: "0\n", from: "memory.max", err: `"0" is not a positive number of bytes`},
		{name: "v1 negative", v1: "-1\n", from: "v1", err: `"-1" is not a positive number of bytes`},
		{name: "v1 past int64", v1: "99999999999999999999\n", from: "v1", err: "is not a number of bytes"},
		{name: "v2 too long", v2: strings.Repeat("1", 100), from: "memory.max", err: "too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			v2, v1 := filepath.Join(root, "memory.max"), filepath.Join(root, "memory", "memory.limit_in_bytes")
			write(t, v2, c.v2)
			write(t, v1, c.v1)
			want := map[string]string{"memory.max": v2, "v1": v1, "": ""}[c.from]
			got, file, err := MemoryLimit(root)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), want)) {
				t.Errorf("error %v, want one saying %q and naming %s", err, c.err, want)
			}
			if got != c.want || file != want {
				t.Errorf("MemoryLimit = %d from %q, want %d from %q", got, file, c.want, want)
			}
		})
	}
}

// A limit file that cannot be read (a directory, a FIFO where memory.max
// should be) is an error naming it, never a wait nor a limit.
func TestMemoryLimitUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "memory.max"), 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifo, "memory.max"), 0o644); err != nil {
		t.Fatal(err)
	}
	for root, what := range map[string]string{dir: "directory", fifo: "FIFO"} {
		got, file, err := MemoryLimit(root)
		if err == nil || !strings.Contains(err.Error(), what) || got != 0 || file != filepath.Join(root, "memory.max") {
			t.Errorf("memory.max a %s: %d from %q, error %v; want 0 and an error naming the file as a %s", what, got, file, err, what)
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if s == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
