package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StoreHealth says whether the store takes appends, for the collector's
// /readyz and /healthz.
type StoreHealth struct {
	FailingSince time.Time // the first failed append of the current run of failures; zero while appends succeed
	LastError    string    // why the last append failed
}

// Failing reports whether the last append failed.
func (h StoreHealth) Failing() bool { return !h.FailingSince.IsZero() }

// Health returns whether the store takes appends. It never waits for an
// append in progress.
func (s *Store) Health() StoreHealth {
	since := s.failSince.Load()
	if since == 0 {
		return StoreHealth{}
	}
	h := StoreHealth{FailingSince: time.Unix(0, since)}
	if e := s.failErr.Load(); e != nil {
		h.LastError = *e
	}
	return h
}

// noteAppendLocked keeps the outcome of an append of an entry of size
// bytes for Health: a failure (a full disk, an unwritable store) until an
// append succeeds, and the room it needed, for Probe.
func (s *Store) noteAppendLocked(err error, size int) {
	if err == nil {
		s.failSince.Store(0)
		return
	}
	msg := err.Error()
	s.failErr.Store(&msg)
	s.failNeed.Store(int64(size) + probeSize) // the entry line's hashes and signature fit in the page
	s.failSince.CompareAndSwap(0, s.cfg.Now().UnixNano())
}

// probeSize is the least Probe reserves: a page, which a full disk
// refuses where it would still take an empty file.
const probeSize = 4 << 10

// Probe, while appends fail, reserves (reserve), fsyncs and removes in
// the store's directory a file as large as the failed append needed, and
// on success takes the store as writable again (the next append tells
// for sure). A collector taken out of its Service's endpoints by /readyz
// gets no batch to try, so without it one that failed once (a full disk
// since freed) stayed not ready for ever. A page alone made a disk with
// a few pages free, but not the room of the batch its sender retries,
// ready and "storing" until that batch failed again, whenever anyone
// asked /readyz (TestCollectorReadyzProbesTheFailedAppendsSize).
func (s *Store) Probe() error {
	if s.failSince.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("collector: store %q is closed", s.dir)
	}
	f, err := os.CreateTemp(s.dir, probePattern)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = reserve(f, max(probeSize, s.failNeed.Load()))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		s.failSince.Store(0)
	}
	return err
}

// reserve gives f size bytes of the filesystem's room.
func reserve(f *os.File, size int64) error {
	if err := fallocate(f, size); err == nil || !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	// Written where the filesystem cannot allocate without writing: a
	// page at a time, the probe's cost bounded by the largest entry
	// (MaxEntryBytes).
	page := make([]byte, probeSize)
	for n := int64(0); n < size; n += probeSize {
		if _, err := f.Write(page); err != nil {
			return err
		}
	}
	return nil
}

// probePattern names Probe's files.
const probePattern = ".probe-*"

// removeProbes removes the files of probes a collector stopped in the
// middle of (killed): each holds the room of a failed append, up to
// MaxEntryBytes, on a disk that was full, and nothing else removed them
// (TestLeftProbeRemovedAtOpen). The store's lock is held.
func removeProbes(dir string) {
	left, _ := filepath.Glob(filepath.Join(dir, probePattern))
	for _, p := range left {
		os.Remove(p)
	}
}
