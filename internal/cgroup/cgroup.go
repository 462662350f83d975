// Package cgroup reads the container's memory limit from the cgroup
// filesystem: what the sidecar's default connection cap is sized by, and
// what the long-running commands set the Go runtime's memory limit from
// (the garbage collector lets the heap grow to twice the live heap before
// it collects, and past a container's limit the kernel kills the process).
//
// It reads the files of the cgroup mounted at a root along the path
// /proc/self/cgroup gives the process's own cgroup: under a cgroup
// namespace (Kubernetes' runtimes on cgroup v2, the bind mounts of v1)
// that path is "/" or leads nowhere below the root, and the root's own
// file is the container's; in a container that sees the host's hierarchy
// (cgroupns=host, most v1 setups) the container's limit, and a pod's on
// an ancestor, lie along it. It keeps no state and is safe to call from
// any goroutine.
package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/durable"
)

// Root is where a container sees its cgroup filesystem.
const Root = "/sys/fs/cgroup"

// Self is the file naming the process's own cgroup in each hierarchy.
const Self = "/proc/self/cgroup"

// maxBytes bounds what is read of a limit file (a number of at most 19
// digits and a newline); a FIFO or device there is refused, not read.
const maxBytes = 64

// maxStatBytes bounds what is read of v1's memory.stat (some forty
// lines of a name and a number).
const maxStatBytes = 16 << 10

// maxSelfBytes bounds what is read of Self: a line per hierarchy.
const maxSelfBytes = 64 << 10

// unlimited is the least value cgroup v1's memory.limit_in_bytes holds
// for no limit: it writes the largest page-aligned number below 2^63
// (9223372036854771712 with 4 KiB pages, ...0 with 64 KiB pages); no
// machine has 4 EiB.
const unlimited = 1 << 62

// MemoryLimit returns the memory limit in bytes of the process's cgroup,
// in the cgroup filesystem mounted at root (Root in a container), and the
// file it read it from; self (Self but in tests) names the process's own
// cgroup in each hierarchy.
//
// cgroup v2's memory.max is read in the directory of the process's cgroup
// (self's "0::/path" line) below root and in each of its ancestors up to
// root itself; when none of them holds one, v1's memory.limit_in_bytes is
// read alike below root/memory (self's "N:memory:/path" line, or one whose
// controllers include memory), and beside it memory.stat's
// hierarchical_memory_limit, which with memory.use_hierarchy holds the
// limits of ancestors the container does not see (a pod's, when the
// container's own cgroup is mounted as the root). The least limit found is the one in force
// (a pod's limit on an ancestor bounds its containers), and its file is
// the one returned. The limit is 0 when every file found says there is
// none (v2's "max", v1's sentinel near 2^63), the file the one nearest
// the process's cgroup, and 0 with file "" when there is none (no cgroup
// filesystem there: not in a container, or not Linux). A path in self
// that climbs above the namespace's root ("/..", a cgroup outside the
// namespace) or no self at all leaves root the only directory read. A
// file that cannot be read or holds anything but a positive number is an
// error naming it, as is a self that cannot be read.
func MemoryLimit(root, self string) (limit int64, file string, err error) {
	v2, v1, err := ownCgroups(self)
	if err != nil {
		return 0, "", err
	}
	for _, h := range []struct {
		dir, path string
		names     []string
	}{
		{root, v2, []string{"memory.max"}},
		{filepath.Join(root, "memory"), v1, []string{"memory.limit_in_bytes", "memory.stat"}},
	} {
		limit, file, err = leastAlong(h.dir, h.path, h.names)
		if err != nil || file != "" {
			return limit, file, err
		}
	}
	return 0, "", nil
}

// leastAlong reads the limit files names in dir/path and each of its
// ancestors up to dir, and returns the least limit found and its file,
// the nearest file with 0 when all say none, or "" when there is none.
func leastAlong(dir, path string, names []string) (limit int64, file string, err error) {
	dir = filepath.Clean(dir)
	for d := filepath.Join(dir, path); ; d = filepath.Dir(d) {
		for _, name := range names {
			f := filepath.Join(d, name)
			n, found, err := readLimit(f)
			if err != nil {
				return 0, f, err
			}
			if file == "" && found || n > 0 && (limit == 0 || n < limit) {
				limit, file = n, f
			}
		}
		if len(d) <= len(dir) {
			return limit, file, nil
		}
	}
}

// readLimit reads one limit file: its limit (0 for none) and whether it
// exists. Of v1's memory.stat it reads the line hierarchical_memory_limit:
// with memory.use_hierarchy, the least limit of the cgroup and its
// ancestors, those outside the container's view included (a pod's limit
// on the parent of a container whose cgroup is bind-mounted as the
// root); a memory.stat without the line is taken for none there.
func readLimit(file string) (int64, bool, error) {
	stat, most := filepath.Base(file) == "memory.stat", int64(maxBytes)
	if stat {
		most = maxStatBytes
	}
	b, err := durable.ReadRegularMax(file, most)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, true, fmt.Errorf("cannot read the memory limit in %s: %w", file, err)
	}
	if stat {
		var ok bool
		if b, ok = statLine(b, "hierarchical_memory_limit"); !ok {
			return 0, false, nil
		}
	}
	n, err := parse(b)
	if err != nil {
		return 0, true, fmt.Errorf("cannot read the memory limit in %s: %w", file, err)
	}
	return n, true, nil
}

// statLine returns the value of the line "key value" of a memory.stat.
func statLine(b []byte, key string) ([]byte, bool) {
	for line := range bytes.Lines(b) {
		if k, v, ok := bytes.Cut(line, []byte(" ")); ok && string(k) == key {
			return v, true
		}
	}
	return nil, false
}

// ownCgroups reads self for the process's cgroup path in the v2 hierarchy
// and in v1's memory hierarchy, each "" when self has none, names one
// that climbs out of the namespace ("..") or is not absolute, or does not
// exist.
func ownCgroups(self string) (v2, v1 string, err error) {
	b, err := durable.ReadRegularMax(self, maxSelfBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("cannot read the process's cgroup in %s: %w", self, err)
	}
	for line := range strings.Lines(string(b)) {
		id, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ":")
		controllers, path, ok := strings.Cut(rest, ":")
		if !ok || !strings.HasPrefix(path, "/") || strings.Contains("/"+path+"/", "/../") {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			v2 = path
		case isMemory(controllers):
			v1 = path
		}
	}
	return v2, v1, nil
}

// isMemory reports whether a v1 line's controllers include memory.
func isMemory(controllers string) bool {
	for c := range strings.SplitSeq(controllers, ",") {
		if c == "memory" {
			return true
		}
	}
	return false
}

// parse reads a limit file's content: a positive number of bytes, "max"
// (v2) or the v1 sentinel for none (0).
func parse(b []byte) (int64, error) {
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a number of bytes or \"max\"", s)
	case n <= 0:
		return 0, fmt.Errorf("%q is not a positive number of bytes", s)
	case n >= unlimited:
		return 0, nil
	}
	return n, nil
}
