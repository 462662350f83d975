//go:build linux

package dataplane

import (
	"os"
)

// sendWait writes p, a whole request, on a connection that has carried
// one before, and waits until the socket is readable (the response has
// begun, or the connection ended), in one pass through the poller. It
// first makes sure that nothing is waiting on the socket (the pool's check
// for stray bytes, see origin) and, when something is, writes nothing and
// reports stray. What a full send buffer left of p is returned for Write
// to finish, and the wait is then skipped.
//
// It saves a system call per request: a Write and then a Read find the
// response not there yet (read(2) answers EAGAIN) before they wait. The
// wait without that read is safe because the poller's readiness is
// cleared when the pass begins (internal/poll's prepareRead), and the
// check finds the socket empty after that, before p is written: every byte
// that arrives later is reported.
func (s *sockConn) sendWait(p []byte) (rest []byte, stray bool, err error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wbuf, s.werr, s.stray, s.sent = p, 0, false, false
	err = s.rc.Read(s.sendFn)
	for err != nil && s.rdl.renew(err) {
		// The pass goes on where it stopped: before the check, or, with
		// p sent, at once, leaving the wait to the response's Read.
		err = s.rc.Read(s.sendFn)
	}
	rest, stray = s.wbuf, s.stray
	s.wbuf = nil
	switch {
	case err != nil:
		return rest, stray, s.opError("read", err)
	case s.werr != 0:
		return rest, stray, s.opError("write", os.NewSyscallError("write", s.werr))
	}
	return rest, stray, nil
}

// sendSys is sendWait's step on the socket: false asks the poller to wait
// until it is readable, which it does once p is written.
func (s *sockConn) sendSys(fd uintptr) bool {
	if s.sent {
		return true // readable: the response's first Read takes it
	}
	if peekReady(fd, &s.one) {
		s.stray = true
		return true
	}
	if !s.writeSys(fd) || s.werr != 0 {
		return true // EAGAIN: the rest waits for room in Write; or the error
	}
	s.sent = true
	return false
}
