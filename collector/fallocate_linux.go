package collector

import (
	"errors"
	"os"
	"syscall"
)

// fallocate allocates size bytes to f without writing them: the probe of
// a full store (Store.Probe) costs no data written however large the
// append it stands for. errors.ErrUnsupported where the filesystem
// cannot.
func fallocate(f *os.File, size int64) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := sc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Fallocate(int(fd), 0, 0, size)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errors.Is(ferr, syscall.EOPNOTSUPP) {
		return errors.ErrUnsupported
	}
	return ferr
}
