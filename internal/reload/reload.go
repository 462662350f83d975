// Package reload holds what is loaded from files that change under a
// running process (certificates, keys, CA bundles, rotated by
// cert-manager or a mounted Secret's symlink swap), keeping what was
// loaded before while they cannot be loaded, and saying so once.
//
// Value re-reads files on demand (a handshake), at most once a second,
// when their Stamp changes: the injector's, the collector's and the
// sidecar's client files in cmd/portcullis. Failures is the part of it
// a poller keeps itself: the dataplane's TLS files, polled every
// --tls-reload and compared by their bytes, log a failure once until it
// changes and the repair once. Watch is what a poller adds to see a file
// changed between its ticks: the collector's --client-crl and the
// sidecar's --client-ca and --client-crl, looked at by handshakes. Nothing here logs: the caller
// names its flags and files.
package reload

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Failures is what a reloader logged of its failures: one line per
// failure until it changes, one line once the files load after one. The
// zero value is ready; it is not safe for concurrent use.
type Failures struct {
	last string // the failure last logged, "" once the files load
}

// Failed records the failure what and reports whether it is to be
// logged: when it differs from the one logged last.
func (f *Failures) Failed(what string) bool {
	if what == f.last {
		return false
	}
	f.last = what
	return true
}

// Loaded records that the files loaded and reports whether a failure was
// logged since they last did: the repair is to be logged.
func (f *Failures) Loaded() bool {
	was := f.last != ""
	f.last = ""
	return was
}

// Value holds what was loaded from files, loading them again when their
// Stamp changes, looked at most once per second. While it holds
// something loaded before, files it cannot load (mid-update: the kubelet
// swaps a symlink; or bad) keep that in force: refused is called once per
// failure, again once they load after one. The zero value is ready; it is
// safe for concurrent use.
type Value[T any] struct {
	mu       sync.Mutex // guards the following fields
	loaded   T
	ok       bool
	stamp    string
	failures Failures
	checked  time.Time
}

// Get returns what the files at paths hold, loaded by load when their
// stamp changed since the last load (and at most once a second). Before
// anything loaded, a failure is returned; after, the value loaded last is,
// refused called with a failure it has not yet been called with, and again
// called when the files load after a failure.
func (v *Value[T]) Get(paths []string, load func() (T, error), refused func(error), again func()) (T, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ok && time.Since(v.checked) < time.Second {
		return v.loaded, nil
	}
	v.checked = time.Now()
	stamp, err := Stamp(paths...)
	if err != nil {
		return v.fallbackLocked(err.Error(), err, refused)
	}
	if v.ok && stamp == v.stamp {
		return v.loaded, nil
	}
	x, err := load()
	if err != nil {
		return v.fallbackLocked(stamp, err, refused)
	}
	if v.failures.Loaded() && v.ok {
		again()
	}
	v.loaded, v.ok, v.stamp = x, true, stamp
	return x, nil
}

// fallbackLocked keeps what was loaded before, calling refused once for
// the failure what names, else returns err.
func (v *Value[T]) fallbackLocked(what string, err error, refused func(error)) (T, error) {
	if !v.ok {
		var zero T
		return zero, err
	}
	if v.failures.Failed(what) {
		refused(err)
	}
	return v.loaded, nil
}

// Watch tells callers on a hot path (every handshake) that files a
// poller loads changed since they were last looked at, by their Stamp: looked
// at most once a second and by one caller at a time, one atomic load
// otherwise. The caller then loads the files as its poll does, so a
// change is in force a second after it, not at the next tick. Make one
// with NewWatch; it is safe for concurrent use. Its times are a monotonic
// clock's nanoseconds, one clock for each Watch (the sidecar's is the
// reading its request already took): a wall clock stepped back stopped
// the looks until it caught up, and a hot path read the clock again.
type Watch struct {
	paths   []string
	checked atomic.Int64 // the caller's clock at the last look
	mu      sync.Mutex   // one looker at a time; guards stamp
	stamp   string
}

// NewWatch returns a Watch of the files at paths, their stamp taken now:
// before the caller's first load of them.
func NewWatch(paths ...string) *Watch {
	w := &Watch{paths: paths}
	w.stamp, _ = Stamp(paths...)
	return w
}

// Changed reports whether the files' stamp changed since the last look
// that saw it: only when a second has passed since the last look (at
// now, nanoseconds of the caller's monotonic clock) and no other caller
// is looking; false otherwise. The stamp is
// taken before the caller reads the files, so a write after it is seen
// at a later look. Files one of which cannot be looked at are left to
// the poll, which logs it.
func (w *Watch) Changed(now int64) bool {
	if now-w.checked.Load() < int64(time.Second) || !w.mu.TryLock() {
		return false
	}
	defer w.mu.Unlock()
	if now-w.checked.Load() < int64(time.Second) {
		return false // another looked meanwhile
	}
	w.checked.Store(now)
	stamp, err := Stamp(w.paths...)
	if err != nil || stamp == w.stamp {
		return false
	}
	w.stamp = stamp
	return true
}

// Stamp identifies the current contents of the files by size,
// modification time, inode and change time: a file replaced by one of
// the same size whose modification time was kept (cp -p, tar) was taken
// for unchanged (TestInjectorRereadsClientCAOfSameSizeAndTime); its
// inode or change time, which no one sets, differs. An error names the
// file that cannot be looked at.
func Stamp(paths ...string) (string, error) {
	var s string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("cannot read %q: %w", p, err)
		}
		s += fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s += fmt.Sprintf("/%d/%d.%d", st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
		}
		s += ";"
	}
	return s, nil
}
