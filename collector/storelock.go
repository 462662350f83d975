package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// storeLock is the file in the store directory that the process holding
// the store open for appends keeps locked. The lock is a POSIX record
// lock (fcntl), which belongs to the process: the kernel drops it when the
// process ends, and one process may open the store again (after a
// failure, or the tests' simulated crashes) while another may not.
const storeLock = "store.lock"

// lockStore takes dir for this process. Two collectors on one --data each
// rebuilt the chain head at start and appended after it, so both wrote
// entries of the same sequence numbers, linked to the same head, into one
// chain. The readers (audit query, verify, the evidence pack) do not take
// it.
func lockStore(dir string) (*os.File, error) {
	path := filepath.Join(dir, storeLock)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot open the store lock %q: %w", path, err)
	}
	whole := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &whole); err != nil {
		f.Close()
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("collector: store %q is in use by another process (it holds %q): stop that collector, or give this one another --data", dir, path)
		}
		return nil, fmt.Errorf("collector: cannot lock the store %q: %w", dir, err)
	}
	return f, nil
}
