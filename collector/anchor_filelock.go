package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockAnchorFile takes the lock of the file anchor path: an exclusive
// flock(2) of path+".lock", which the read, compare and write of a
// publication hold, so that two collectors given one --publish-head file
// (a mistake the compare is there to catch) cannot both read the same
// head and both write after it. It waits while another process holds the
// lock, until ctx ends; the returned func releases it.
func lockAnchorFile(ctx context.Context, path string) (func(), error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot open the lock %q of the published head: %w", name, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("collector: cannot lock %q: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("collector: the published head %q is being written by another process (it holds %q): %w", path, name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
