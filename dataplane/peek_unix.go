//go:build unix

package dataplane

import (
	"net"
	"syscall"
)

// peeker checks a socket for waiting bytes with recv(MSG_PEEK|MSG_DONTWAIT):
// nothing is consumed and nothing blocks.
type peeker = *sockPeek

type sockPeek struct {
	raw   syscall.RawConn
	fn    func(fd uintptr) bool // built once per connection: no allocation per check
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

// check runs on the socket: a byte waiting, or end of stream (0 bytes, no
// error), is ready; EAGAIN is not.
func (p *sockPeek) check(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), p.one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	p.ready = n > 0 || (n == 0 && err == nil)
	return true
}

func (p *sockPeek) pending() bool {
	p.ready = false
	if err := p.raw.Read(p.fn); err != nil {
		return true // closed or broken: not reusable
	}
	return p.ready
}
