//go:build unix

package durable

import (
	"os"
	"syscall"
)

// Unlinked reports whether f's file has no name left in any directory
// (deleted while open): what is written to it is gone once it closes.
func Unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
