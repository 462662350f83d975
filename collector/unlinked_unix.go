//go:build unix

package collector

import (
	"os"
	"syscall"
)

// unlinked reports whether f's file has no name left in any directory
// (deleted while open): what is written to it is gone once it closes.
func unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
