//go:build linux && race

package dataplane

import "syscall"

// Under the race detector, sockConn makes its system calls through the
// syscall package: its Read and Write annotate a happens-before edge (a
// write to any descriptor before a read from any) that raw calls would
// bypass, and without it the detector reports as races what a socket
// orders, such as a handler's audit record and the test that reads it
// after the response arrived. Everything else (the poller, EAGAIN,
// partial writes, errors) is the same code as without it.

func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), b)
	return n, errno(err)
}

func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), b)
	return n, errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}
