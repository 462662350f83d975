// Package cgroup reads the container's memory limit from the cgroup
// filesystem: what the sidecar's default connection cap is sized by, and
// what the long-running commands set the Go runtime's memory limit from
// (the garbage collector lets the heap grow to twice the live heap before
// it collects, and past a container's limit the kernel kills the process).
//
// It reads only the files of the cgroup mounted at a root, the container's
// own under a cgroup namespace (Kubernetes' runtimes on cgroup v2, and the
// bind mounts of v1): it does not follow /proc/self/cgroup to a cgroup
// elsewhere in the hierarchy. It keeps no state and is safe to call from
// any goroutine.
package cgroup

import (
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

// maxBytes bounds what is read of a limit file (a number of at most 19
// digits and a newline); a FIFO or device there is refused, not read.
const maxBytes = 64

// unlimited is the least value cgroup v1's memory.limit_in_bytes holds
// for no limit: it writes the largest page-aligned number below 2^63
// (9223372036854771712 with 4 KiB pages, ...0 with 64 KiB pages); no
// machine has 4 EiB.
const unlimited = 1 << 62

// MemoryLimit returns the memory limit in bytes of the cgroup whose
// filesystem is mounted at root (Root in a container) and the file it
// read it from: cgroup v2's memory.max, else, when that does not exist,
// v1's memory/memory.limit_in_bytes. The limit is 0 when that file says
// there is none (v2's "max", v1's sentinel near 2^63), and 0 with file ""
// when neither file exists (no cgroup filesystem there: not in a
// container, or not Linux). A file that cannot be read or holds anything
// but a positive number is an error naming it.
func MemoryLimit(root string) (limit int64, file string, err error) {
	for _, name := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		file = filepath.Join(root, name)
		b, err := durable.ReadRegularMax(file, maxBytes)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, file, fmt.Errorf("cannot read the memory limit in %s: %w", file, err)
		}
		limit, err := parse(b)
		if err != nil {
			return 0, file, fmt.Errorf("cannot read the memory limit in %s: %w", file, err)
		}
		return limit, file, nil
	}
	return 0, "", nil
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
