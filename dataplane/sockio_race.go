//go:build linux && race

package dataplane

import "syscall"

// Under the race detector, sockConn makes its system calls through the
// syscall package: its Read and Write annotate a happens-before edge (a
// write to any descriptor before a read from any) that raw calls would
// bypass, and without it the detector reports as races what a socket
// orders, such as a handler's audit record and the test that reads it
// after the response arrived. Everything else (the poller, EAGAIN,
// partial writes, errors) is the same code as without it; only the
// kernel's entry differs (read(2) and write(2) here, recvfrom(2) and
// sendto(2) without it), and both end in the socket's recvmsg and sendmsg.

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
