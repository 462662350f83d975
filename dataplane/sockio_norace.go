//go:build linux && !race

package dataplane

import (
	"syscall"
	"unsafe"
)

// sysRead reads a socket as a raw recvfrom(2) with no flags and no
// address: what read(2) does on a socket, without the file layer that
// read(2) goes through first (the file position lock, the permission
// hooks, the iterator set-up before sock_read_iter). On the PVM guest this
// is measured on, that layer was 2-3% of a request's CPU
// (docs/performance.md); recv(2) is what nginx reads its sockets with.
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0, 0, 0)
	return int(n), e
}

// sysWrite writes a socket as a raw sendto(2) with no address, for the
// same reason, and with MSG_NOSIGNAL: a peer that has gone gives EPIPE
// without a SIGPIPE for the runtime to field.
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
	return int(n), e
}
