package tmpfs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes at a new directory and returns it,
// or skips tb where mounting is not allowed (it needs root or
// CAP_SYS_ADMIN). Its root is private to the user, mode 0700, as a
// volume given to one process is (tmpfs's default is 1777). The mount
// goes when tb ends.
func Mount(tb testing.TB, size int) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)+",mode=0700"); err != nil {
		tb.Skipf("cannot mount a tmpfs to fill (needs root): %v", err)
	}
	tb.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// Fill writes a file in dir until its filesystem is full, to the last
// byte, and returns the file's path; removing the file frees the space.
func Fill(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for _, n := range []int{len(page), 1} { // whole pages, then single bytes
		for {
			if _, err := f.Write(page[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					tb.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
	}
	return path
}
