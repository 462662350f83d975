//go:build linux && !race

package dataplane

import (
	"net"
	"syscall"
	"testing"
	"unsafe"
)

// BenchmarkSocketCalls compares the system calls a sockConn makes
// (recvfrom(2) and sendto(2), sockio_norace.go) with read(2) and write(2)
// on a loopback TCP pair: a read that finds nothing (EAGAIN, as the
// client's next-request read does at saturation) and a 1 KiB write read
// back. Run the variants in one process, several times, and compare them
// within a run:
//
//	go test -run '^$' -bench SocketCalls -count 6 ./dataplane
func BenchmarkSocketCalls(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	fdOf := func(c net.Conn) (fd uintptr) {
		rc, _ := c.(*net.TCPConn).SyscallConn()
		rc.Control(func(f uintptr) { fd = f })
		return fd
	}
	w, r := fdOf(c), fdOf(s)
	msg, buf := make([]byte, 1024), make([]byte, 4096)
	read := func(fd uintptr, p []byte) (int, syscall.Errno) {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		return int(n), e
	}
	write := func(fd uintptr, p []byte) (int, syscall.Errno) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		return int(n), e
	}
	for _, v := range []struct {
		name        string
		read, write func(uintptr, []byte) (int, syscall.Errno)
	}{{"read+write", read, write}, {"recvfrom+sendto", sysRead, sysWrite}} {
		b.Run("EAGAIN/"+v.name, func(b *testing.B) {
			for b.Loop() {
				if _, e := v.read(r, buf); e != syscall.EAGAIN {
					b.Fatalf("read: %v, want EAGAIN", e)
				}
			}
		})
		b.Run("1KiB/"+v.name, func(b *testing.B) {
			for b.Loop() {
				if n, e := v.write(w, msg); n != len(msg) || e != 0 {
					b.Fatalf("write = %d, %v", n, e)
				}
				if n, e := v.read(r, buf); n != len(msg) || e != 0 {
					b.Fatalf("read = %d, %v", n, e)
				}
			}
		})
	}
}
