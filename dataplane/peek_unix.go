//go:build unix

package dataplane

import (
	"net"
	"syscall"
	"unsafe"
)

// peeker checks a socket for waiting bytes with recv(MSG_PEEK|MSG_DONTWAIT):
// nothing is consumed and nothing blocks.
type peeker = *sockPeek

type sockPeek struct {
	raw   syscall.RawConn
	fn    func(fd uintptr) // built once per connection: no allocation per check
	ready bool
	one   [1]byte
}

// newPeeker returns a peeker for c, or nil when c is not a socket.
func newPeeker(c net.Conn) peeker {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &sockPeek{raw: raw}
	p.fn = p.check
	return p
}

// check runs on the socket: a byte waiting, the end of the stream (0
// bytes, no error) or an error such as a reset is ready (the connection
// is not reusable); only EAGAIN, nothing there, is not. It is a raw
// system call, as the connection's reads and writes are
// (sockio_linux.go): with MSG_DONTWAIT it never blocks.
func (p *sockPeek) check(fd uintptr) {
	p.ready = peekReady(fd, &p.one)
}

// peekReady reports whether the socket fd has a byte waiting, has ended
// or has failed: one recv(MSG_PEEK|MSG_DONTWAIT) into one, which takes
// nothing from the socket and never blocks. EAGAIN, nothing there, is the
// only answer that is not ready.
func peekReady(fd uintptr, one *[1]byte) bool {
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&one[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if e != syscall.EINTR {
			return e != syscall.EAGAIN
		}
	}
}

func (p *sockPeek) pending() bool {
	p.ready = false
	if err := p.raw.Control(p.fn); err != nil { // MSG_DONTWAIT: no poller, so no deadline, lazy or not
		return true // closed or broken: not reusable
	}
	return p.ready
}
