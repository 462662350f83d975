//go:build unix

package fds

import "syscall"

// softLimit returns the soft open-files limit, or false when there is
// none to read (or it is as good as none).
func softLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 { // unlimited (RLIM_INFINITY) or as good as
		return 0, false
	}
	return rl.Cur, true
}
