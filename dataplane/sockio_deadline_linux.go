//go:build linux

package dataplane

import (
	"errors"
	"os"
	"sync"
	"time"
)

// deadline is one direction's deadline of a sockConn, moved lazily. The
// server asks for a new one two or three times a request (fasthttp: the
// idle timeout, then the header timeout, then the write timeout), and
// each costs the runtime a clock read and a timer update. Here a deadline
// asked for that is later than the one set on the socket is only noted:
// the earlier one stays, and when it fires, the I/O that it failed checks
// the noted one and, if it has not passed, sets it and carries on. A
// deadline earlier than the one set, or none, is set at once. So an I/O
// times out exactly when the last deadline asked for passes, never
// earlier, and a busy connection updates its timer once per timeout
// instead of once per request (issue 18).
type deadline struct {
	apply func(time.Time) error // the socket's setter, bound once

	mu   sync.Mutex // guards the following fields
	want time.Time  // asked for; zero: none
	set  time.Time  // on the socket; zero: none
}

// update notes t as the deadline asked for and sets it on the socket when
// it is earlier than the one there, or zero.
func (d *deadline) update(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want = t
	if !t.IsZero() && !d.set.IsZero() && !t.Before(d.set) {
		return nil
	}
	d.set = t
	return d.apply(t)
}

// renew is called after an I/O failed with err: when err is the socket's
// deadline and the one asked for is later and still ahead, it sets that
// one and reports true, for the I/O to go on.
func (d *deadline) renew(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.want.Equal(d.set) || !time.Now().Before(d.want) {
		return false
	}
	d.set = d.want
	return d.apply(d.want) == nil
}

// SetReadDeadline is net.Conn's, set lazily (see deadline).
func (s *sockConn) SetReadDeadline(t time.Time) error {
	return s.rdl.update(t)
}

// SetWriteDeadline is net.Conn's, set lazily (see deadline).
func (s *sockConn) SetWriteDeadline(t time.Time) error {
	return s.wdl.update(t)
}

// SetDeadline is net.Conn's: both deadlines.
func (s *sockConn) SetDeadline(t time.Time) error {
	return errors.Join(s.SetReadDeadline(t), s.SetWriteDeadline(t))
}
