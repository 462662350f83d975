//go:build linux

package dataplane

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// maxRW caps one read or write system call, as internal/poll does.
const maxRW = 1 << 30

// sockConn is a TCP connection whose Read and Write are raw recvfrom(2)
// and sendto(2) calls (sockio_norace.go), made through the runtime's poller
// (syscall.RawConn): the poller still waits for readiness, applies the
// deadlines and holds the descriptor's locks against Close, as for
// net.Conn.
//
// What it leaves out is the scheduler bookkeeping that the net package's
// Read and Write put around every system call (entersyscall and
// exitsyscall). The runtime keeps sockets non-blocking, so these calls
// never sleep and the bookkeeping buys nothing; it costs, though. After
// the sidecar has been idle for a moment, the first system call of a
// request wakes sysmon from its deep sleep (a futex wake and a thread
// switch), and sysmon then naps in 20 us steps until the process is idle
// again; with one P, a write that runs past one of those steps hands the
// P to another thread. At 2,000 requests a second that was about three
// futex calls, two nanosleeps and six context switches per request
// (docs/performance.md).
type sockConn struct {
	net.Conn
	rc syscall.RawConn

	// rmu and wmu keep concurrent Reads (Writes) apart, as net.Conn
	// allows them: each call parks its buffer on the connection for the
	// bound functions below. Uncontended, as the data plane uses a
	// connection, they cost a few ns.
	rmu, wmu   sync.Mutex
	rbuf, wbuf []byte
	rn         int
	rerr, werr syscall.Errno
	readFn     func(uintptr) bool // bound once: no allocation per call
	writeFn    func(uintptr) bool

	rdl, wdl deadline // sockio_deadline_linux.go

	// sendWait's state, under both rmu and wmu (sockio_send_linux.go).
	sendFn      func(uintptr) bool
	stray, sent bool
	one         [1]byte
}

// rawSock returns c with raw Read and Write when it is a TCP connection,
// else c itself.
func rawSock(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &sockConn{Conn: c, rc: rc}
	s.readFn, s.writeFn, s.sendFn = s.readSys, s.writeSys, s.sendSys
	s.rdl.apply, s.wdl.apply = tc.SetReadDeadline, tc.SetWriteDeadline
	return s
}

// SyscallConn is the socket's, for the pool's check for unread bytes.
func (s *sockConn) SyscallConn() (syscall.RawConn, error) { return s.rc, nil }

// Read is net.Conn's Read: at most len(p) bytes, io.EOF at the end of the
// stream, errors as *net.OpError.
func (s *sockConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.rbuf, s.rn, s.rerr = p, 0, 0
	err := s.rc.Read(s.readFn)
	for err != nil && s.rdl.renew(err) {
		err = s.rc.Read(s.readFn) // nothing was read: the deadline failed it first
	}
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case s.rerr != 0:
		return 0, s.opError("read", os.NewSyscallError("read", s.rerr))
	case s.rn == 0:
		return 0, io.EOF
	}
	return s.rn, nil
}

// Write is net.Conn's Write: all of p, or the count written and an error.
func (s *sockConn) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wbuf, s.werr = p, 0
	err := s.rc.Write(s.writeFn)
	for err != nil && s.wdl.renew(err) {
		err = s.rc.Write(s.writeFn) // goes on with what is left of wbuf
	}
	n := len(p) - len(s.wbuf)
	s.wbuf = nil
	switch {
	case err != nil:
		return n, s.opError("write", err)
	case s.werr != 0:
		return n, s.opError("write", os.NewSyscallError("write", s.werr))
	}
	return n, nil
}

// readSys is one receive (sysRead) into rbuf; false asks the poller to wait until
// the socket is readable.
func (s *sockConn) readSys(fd uintptr) bool {
	b := s.rbuf[:min(len(s.rbuf), maxRW)]
	for {
		n, e := sysRead(fd, b)
		switch e {
		case 0:
			s.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.rerr = e
		return true
	}
}

// writeSys writes what is left of wbuf; false asks the poller to wait
// until the socket takes more.
func (s *sockConn) writeSys(fd uintptr) bool {
	for len(s.wbuf) > 0 {
		b := s.wbuf[:min(len(s.wbuf), maxRW)]
		n, e := sysWrite(fd, b)
		switch {
		case e == 0 && n == 0:
			s.werr = syscall.EIO // no progress and no error: never on TCP; do not spin
			return true
		case e == 0:
			s.wbuf = s.wbuf[n:]
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return false
		default:
			s.werr = e
			return true
		}
	}
	return true
}

// opError gives err the shape of net.Conn's errors. RawConn's own errors
// (deadline, closed) are OpErrors already, for "raw-read" or "raw-write".
func (s *sockConn) opError(op string, err error) error {
	if oe, ok := errors.AsType[*net.OpError](err); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: err}
}
