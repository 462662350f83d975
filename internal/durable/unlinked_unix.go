//go:build unix

package durable

import (
	"os"
	"syscall"
)

// Unlinked reports whether f's file has no name left in any directory
// (deleted while open): what is written to it is gone once it closes.
// A link count of 0 is confirmed by f's path, which must no longer name
// the same file: a file system that reports no links for a live file
// (some FUSE ones do) must not make a store refuse every append.
func Unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Nlink != 0 {
		return false
	}
	at, err := os.Stat(f.Name())
	return err != nil || !os.SameFile(fi, at)
}
