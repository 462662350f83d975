// Package durable writes files that survive a crash: a file is written to a
// temporary name, fsync'd, renamed over the target and its directory
// fsync'd, so a reader sees the old contents or the new, never a torn
// write. It is shared by the sidecar's spool (audit) and the collector's
// store, which both acknowledge data only once it is durable.
package durable

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNotRegular is returned (wrapped, saying what the file is) by
// OpenRegular for a FIFO, device, socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path as os.OpenFile does, but never waits for the
// other end of a FIFO (open(2) for writing blocks until a reader comes,
// for reading until a writer does: a process froze at start on a FIFO
// given or planted where it writes a file), and returns only a regular
// file: anything else is refused with an error saying what it is.
func OpenRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		// A FIFO without a reader fails with ENXIO: name it instead.
		if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
			return nil, notRegular(fi.Mode())
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = notRegular(fi.Mode())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// CheckRegular returns, for a path that exists and is not a regular
// file, the error OpenRegular would; nil otherwise (a missing file is
// left to whoever opens it). It checks a file named at start before
// anything opens it.
func CheckRegular(path string) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return notRegular(fi.Mode())
	}
	return nil
}

// ReadRegular reads the whole of path as os.ReadFile does, through
// OpenRegular: a FIFO or other special file is refused, not waited on.
func ReadRegular(path string) ([]byte, error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// ErrTooLarge is returned (wrapped, naming the size and the cap) by
// ReadRegularMax for a file over its cap.
var ErrTooLarge = errors.New("too large")

// ReadRegularMax is ReadRegular for a file of at most max bytes: a larger
// one is refused with ErrTooLarge, naming its size and the cap, and never
// read whole (a 10 GB file given as a policy or key file was read into
// memory until it ran out).
func ReadRegularMax(path string, max int64) ([]byte, error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		return nil, fmt.Errorf("%w: it is %d bytes, over the cap of %s", ErrTooLarge, fi.Size(), FormatCap(max))
	}
	return ReadAllMax(f, max) // it may grow as it is read
}

// FormatCap writes a cap in bytes in the largest binary unit it divides
// into: 64 MiB, 1 KiB, 100 bytes.
func FormatCap(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func notRegular(m os.FileMode) error {
	kind := "special file"
	switch {
	case m&os.ModeNamedPipe != 0:
		kind = "FIFO"
	case m&os.ModeSocket != 0:
		kind = "socket"
	case m&os.ModeDevice != 0:
		kind = "device"
	case m.IsDir():
		kind = "directory"
	}
	return fmt.Errorf("%w: it is a %s", ErrNotRegular, kind)
}

// TempName is the name WriteFile writes name under, in the same folder,
// before it renames it into place.
func TempName(name string) string { return ".tmp-" + name }

// WriteFile writes dir/name atomically and durably. The temporary file is
// created afresh (O_EXCL): a regular file at its name (left by a write
// that failed, or a hard link planted there) is removed first, and
// anything else there (a symlink, a FIFO) fails the write, named
// (OpenRegular). A hard link is a regular file, which O_NOFOLLOW does not
// refuse: the file it names, anywhere on the file system, was truncated,
// filled and renamed into place (TestWriteFileNotThroughPlantedHardLink).
func WriteFile(dir, name string, data []byte) error {
	if err := Replace(dir, name, data); err != nil {
		return err
	}
	return SyncDir(dir)
}

// Replace is WriteFile without the directory's fsync: the file is written
// through (fsync'd) before it is renamed over dir/name, so a crash leaves
// at the name the old contents or the new, each whole, never an empty or
// torn file; but the rename itself may be lost, the old contents back.
// It is for a file rewritten so often that only its being whole matters
// after a crash, not that it is the newest (the collector's head.json,
// after every append: one fsync less each time).
func Replace(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, TempName(name))
	if fi, err := os.Lstat(tmp); err == nil && fi.Mode().IsRegular() {
		if err := os.Remove(tmp); err != nil {
			return fmt.Errorf("durable: cannot remove %q, left at the name of a temporary file: %w", tmp, err)
		}
	}
	f, err := OpenRegular(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("durable: cannot create %q: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("durable: cannot write %q: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// SyncDir fsyncs a directory so that a rename or removal in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("durable: cannot open directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("durable: cannot sync directory %q: %w", dir, err)
	}
	return nil
}
