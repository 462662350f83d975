package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMemoryLimit reads real files laid out as a container sees them under
// a cgroup namespace (its own cgroup "/" in /proc/self/cgroup): v2's
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
			got, file, err := MemoryLimit(root, self(t, "4:memory:/\n0::/\n"))
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
		got, file, err := MemoryLimit(root, self(t, "0::/\n"))
		if err == nil || !strings.Contains(err.Error(), what) || got != 0 || file != filepath.Join(root, "memory.max") {
			t.Errorf("memory.max a %s: %d from %q, error %v; want 0 and an error naming the file as a %s", what, got, file, err, what)
		}
	}
}

// TestMemoryLimitFollowsSelf reads real files laid out as a container
// that sees the host's cgroup hierarchy does (cgroupns=host, v1): its limit
// in the directory /proc/self/cgroup names below the root, a pod's on an
// ancestor; the least along the path up to the root is in force, named by
// its file. Before, only the root's own file was read: none there, no
// limit, and the Go memory limit and the connection cap went unset.
func TestMemoryLimitFollowsSelf(t *testing.T) {
	t.Parallel()
	const pod, ctr = "kubepods.slice/pod1", "kubepods.slice/pod1/ctr"
	for _, c := range []struct {
		name, self string
		files      map[string]string // below root, which is a directory below a temp dir
		want       int64
		from       string // below root, "" for none
		err        string // in the error, "" for none
	}{
		{name: "v2 own cgroup", self: "0::/" + ctr + "\n",
			files: map[string]string{ctr + "/memory.max": "134217728\n"},
			want:  128 << 20, from: ctr + "/memory.max"},
		{name: "v2 pod's smaller", self: "0::/" + ctr + "\n",
			files: map[string]string{ctr + "/memory.max": "268435456\n", pod + "/memory.max": "134217728\n", "kubepods.slice/memory.max": "max\n"},
			want:  128 << 20, from: pod + "/memory.max"},
		{name: "v2 pod's larger", self: "0::/" + ctr + "\n",
			files: map[string]string{ctr + "/memory.max": "134217728\n", pod + "/memory.max": "268435456\n", "kubepods.slice/memory.max": "max\n"},
			want:  128 << 20, from: ctr + "/memory.max"},
		{name: "v2 own max, pod's limit", self: "0::/" + ctr + "\n",
			files: map[string]string{ctr + "/memory.max": "max\n", pod + "/memory.max": "67108864\n"},
			want:  64 << 20, from: pod + "/memory.max"},
		{name: "v2 own file missing, pod's limit", self: "0::/" + ctr + "\n",
			files: map[string]string{pod + "/memory.max": "67108864\n"},
			want:  64 << 20, from: pod + "/memory.max"},
		{name: "v2 all max", self: "0::/" + ctr + "\n",
			files: map[string]string{ctr + "/memory.max": "max\n", pod + "/memory.max": "max\n"},
			want:  0, from: ctr + "/memory.max"},
		{name: "v2 root's smaller", self: "0::/" + ctr + "\n",
			files: map[string]string{ctr + "/memory.max": "268435456\n", "memory.max": "134217728\n"},
			want:  128 << 20, from: "memory.max"},
		{name: "namespace: path leads nowhere, root's file", self: "0::/docker/abc\n",
			files: map[string]string{"memory.max": "134217728\n"},
			want:  128 << 20, from: "memory.max"},
		{name: "v1 own cgroup", self: "4:memory:/docker/abc\n0::/\n",
			files: map[string]string{"memory/docker/abc/memory.limit_in_bytes": "134217728\n", "memory/memory.limit_in_bytes": "9223372036854771712\n"},
			want:  128 << 20, from: "memory/docker/abc/memory.limit_in_bytes"},
		{name: "v1 joined controllers, parent's smaller", self: "3:cpu,memory,cpuacct:/a/b\n",
			files: map[string]string{"memory/a/b/memory.limit_in_bytes": "268435456\n", "memory/a/memory.limit_in_bytes": "134217728\n"},
			want:  128 << 20, from: "memory/a/memory.limit_in_bytes"},
		{name: "v1 other controllers' paths not followed", self: "3:cpu:/a\n5:memoryx:/a\n4:memory:/\n",
			files: map[string]string{"memory/a/memory.limit_in_bytes": "67108864\n", "memory/memory.limit_in_bytes": "9223372036854771712\n"},
			want:  0, from: "memory/memory.limit_in_bytes"},
		{name: "v1 path with colons", self: "4:memory:/a:b\n",
			files: map[string]string{"memory/a:b/memory.limit_in_bytes": "67108864\n"},
			want:  64 << 20, from: "memory/a:b/memory.limit_in_bytes"},
		{name: "v2 before v1", self: "4:memory:/x\n0::/y\n",
			files: map[string]string{"y/memory.max": "268435456\n", "memory/x/memory.limit_in_bytes": "134217728\n"},
			want:  256 << 20, from: "y/memory.max"},
		{name: "hybrid: v1's memory when v2 has none", self: "4:memory:/x\n0::/y\n",
			files: map[string]string{"y/cgroup.procs": "", "memory/x/memory.limit_in_bytes": "134217728\n"},
			want:  128 << 20, from: "memory/x/memory.limit_in_bytes"},
		{name: "a path out of the namespace is not followed", self: "0::/../other\n",
			files: map[string]string{"../other/memory.max": "67108864\n", "memory.max": "134217728\n"},
			want:  128 << 20, from: "memory.max"},
		{name: "a relative path is not followed", self: "0::other\n",
			files: map[string]string{"other/memory.max": "67108864\n", "memory.max": "134217728\n"},
			want:  128 << 20, from: "memory.max"},
		{name: "self garbage", self: "garbage\n\n::\n",
			files: map[string]string{"memory.max": "134217728\n"},
			want:  128 << 20, from: "memory.max"},
		{name: "missing", self: "0::/" + ctr + "\n4:memory:/" + ctr + "\n", want: 0, from: ""},
		{name: "v2 pod's garbage", self: "0::/" + ctr + "\n",
			files: map[string]string{ctr + "/memory.max": "134217728\n", pod + "/memory.max": "lots\n"},
			from:  pod + "/memory.max", err: `"lots" is not a number of bytes`},
		{name: "v1 own garbage", self: "4:memory:/a\n",
			files: map[string]string{"memory/a/memory.limit_in_bytes": "-1\n", "memory/memory.limit_in_bytes": "134217728\n"},
			from:  "memory/a/memory.limit_in_bytes", err: `"-1" is not a positive number of bytes`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(t.TempDir(), "cgroup")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range c.files {
				if content == "" {
					content = " " // write leaves "" out
				}
				write(t, filepath.Join(root, name), content)
			}
			want := ""
			if c.from != "" {
				want = filepath.Join(root, c.from)
			}
			got, file, err := MemoryLimit(root, self(t, c.self))
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), want)) {
				t.Errorf("error %v, want one saying %q and naming %s", err, c.err, want)
			}
			if got != c.want || file != want {
				t.Errorf("MemoryLimit = %d from %q, want %d from %q", got, file, c.want, want)
			}
		})
	}
}

// Without /proc/self/cgroup (not Linux) the root's own file is read; one
// that cannot be read is an error naming it.
func TestMemoryLimitSelfMissingOrUnreadable(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "memory.max"), "134217728\n")
	got, file, err := MemoryLimit(root, filepath.Join(t.TempDir(), "cgroup"))
	if err != nil || got != 128<<20 || file != filepath.Join(root, "memory.max") {
		t.Errorf("no self: %d from %q, error %v; want %d from the root's memory.max", got, file, err, 128<<20)
	}
	dir := t.TempDir()
	got, file, err = MemoryLimit(root, dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "directory") || got != 0 {
		t.Errorf("self a directory: %d from %q, error %v; want 0 and an error naming it", got, file, err)
	}
}

// self writes content as /proc/self/cgroup in a temp dir and returns it.
func self(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cgroup")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
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

// TestMemoryLimitV1Hierarchical: with cgroup v1 and memory.use_hierarchy,
// a pod's limit may be on a parent the container does not see (its own
// cgroup bind-mounted as root/memory, "/" in /proc/self/cgroup), its own
// memory.limit_in_bytes the sentinel for none; memory.stat's
// hierarchical_memory_limit holds the limit in force. Before, it was not
// read: no limit, and the Go memory limit and the connection cap went
// unset. The least of both files along the path is in force.
func TestMemoryLimitV1Hierarchical(t *testing.T) {
	t.Parallel()
	const none = "9223372036854771712\n"
	stat := func(limit string) string {
		return "cache 4096\nrss 8192\nhierarchical_memory_limit " + limit + "\nhierarchical_memsw_limit 9223372036854771712\ntotal_rss 8192\n"
	}
	for _, c := range []struct {
		name, self string
		files      map[string]string // below root
		want       int64
		from       string // below root
		err        string
	}{
		{name: "parent's limit out of view", self: "4:memory:/\n",
			files: map[string]string{"memory/memory.limit_in_bytes": none, "memory/memory.stat": stat("268435456")},
			want:  256 << 20, from: "memory/memory.stat"},
		{name: "own limit smaller", self: "4:memory:/\n",
			files: map[string]string{"memory/memory.limit_in_bytes": "134217728\n", "memory/memory.stat": stat("268435456")},
			want:  128 << 20, from: "memory/memory.limit_in_bytes"},
		{name: "along the path", self: "4:memory:/a/b\n",
			files: map[string]string{"memory/a/b/memory.limit_in_bytes": none, "memory/a/b/memory.stat": stat("67108864"),
				"memory/memory.limit_in_bytes": none, "memory/memory.stat": stat("9223372036854771712")},
			want: 64 << 20, from: "memory/a/b/memory.stat"},
		{name: "none anywhere: the nearest limit file", self: "4:memory:/\n",
			files: map[string]string{"memory/memory.limit_in_bytes": none, "memory/memory.stat": stat("9223372036854771712")},
			want:  0, from: "memory/memory.limit_in_bytes"},
		{name: "stat without the line", self: "4:memory:/\n",
			files: map[string]string{"memory/memory.limit_in_bytes": "134217728\n", "memory/memory.stat": "cache 0\nhierarchical_memory_limitx 1\n"},
			want:  128 << 20, from: "memory/memory.limit_in_bytes"},
		{name: "stat garbage", self: "4:memory:/\n",
			files: map[string]string{"memory/memory.limit_in_bytes": none, "memory/memory.stat": stat("lots")},
			from:  "memory/memory.stat", err: `"lots" is not a number of bytes`},
		{name: "v2's memory.stat not read", self: "0::/\n",
			files: map[string]string{"memory.max": "max\n", "memory.stat": stat("67108864")},
			want:  0, from: "memory.max"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			for name, content := range c.files {
				write(t, filepath.Join(root, name), content)
			}
			want := filepath.Join(root, c.from)
			got, file, err := MemoryLimit(root, self(t, c.self))
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), want)) {
				t.Errorf("error %v, want one saying %q and naming %s", err, c.err, want)
			}
			if got != c.want || file != want {
				t.Errorf("MemoryLimit = %d from %q, want %d from %q", got, file, c.want, want)
			}
		})
	}
}

// This host's own cgroup files, as they are (here v1, memory.stat
// included): whatever limit they say, they read without an error.
func TestMemoryLimitOfThisHost(t *testing.T) {
	got, file, err := MemoryLimit(Root, Self)
	if err != nil {
		t.Fatalf("MemoryLimit of this host: %v", err)
	}
	t.Logf("this host: limit %d from %q", got, file)
}
