package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// StoreHealth says whether the store takes appends, for the collector's
// /readyz and /healthz.
type StoreHealth struct {
	FailingSince time.Time // the first failed append of the current run of failures; zero while appends succeed
	LastError    string    // why the last append failed
	// HeadFailingSince is the first round of signing and publishing the
	// head (RunHeadSigner) of the current run of failed ones; zero while
	// the last round published the head to every anchor. HeadError says
	// why the last round failed.
	HeadFailingSince time.Time
	HeadError        string
}

// Failing reports whether the last append failed.
func (h StoreHealth) Failing() bool { return !h.FailingSince.IsZero() }

// Health returns whether the store takes appends. It never waits for an
// append in progress.
func (s *Store) Health() StoreHealth {
	var h StoreHealth
	if since := s.failSince.Load(); since != 0 {
		h.FailingSince = time.Unix(0, since)
		if e := s.failErr.Load(); e != nil {
			h.LastError = *e
		}
	}
	if since := s.headFailSince.Load(); since != 0 {
		h.HeadFailingSince = time.Unix(0, since)
		if e := s.headErr.Load(); e != nil {
			h.HeadError = *e
		}
	}
	return h
}

// HeadFailing reports whether the last round of signing and publishing
// the head failed.
func (h StoreHealth) HeadFailing() bool { return !h.HeadFailingSince.IsZero() }

// noteHead keeps the outcome of a round of signing and publishing the
// head for Health: before, /readyz said "signed heads published to every
// anchor" while etcd refused every head, and /healthz "ok"
// (TestReadyzReportsHeadPublishFailures).
func (s *Store) noteHead(err error) {
	if err == nil {
		s.headFailSince.Store(0)
		return
	}
	msg := err.Error()
	s.headErr.Store(&msg)
	s.headFailSince.CompareAndSwap(0, s.cfg.Now().UnixNano())
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
	now := s.cfg.Now().UnixNano()
	s.failErr.Store(&msg)
	s.failNeed.Store(int64(size) + probeSize) // the entry line's hashes and signature fit in the page
	s.failLast.Store(now)
	s.failSince.CompareAndSwap(0, now)
}

// errSegmentDeleted is an append to, or a probe of, a segment deleted
// while open: nothing written there can be read again.
var errSegmentDeleted = errors.New("collector: the open segment is deleted")

// probeSize is the least Probe reserves: a page, which a full disk
// refuses where it would still take an empty file.
const probeSize = 4 << 10

// DefaultProbeEvery is the least time between two probes of a store
// refusing appends: /readyz answers anyone who asks on the intake
// listener, and each probe takes the store's lock and reserves and
// fsyncs up to MaxEntryBytes. Asked more often, /readyz answers from the
// last probe (TestReadyzProbesAtMostOnceAnInterval).
const DefaultProbeEvery = time.Second

// FailedAppendHeld is how long after the last failed append Probe
// reserves the room that append needed; after it, a page. The batch that
// failed is its sender's to retry, and a collector out of its Service's
// endpoints gets no retry: without a bound, a batch its sender dropped
// or sent elsewhere held the collector not ready until its room was
// free, whatever came after (TestReadyzForgetsAnUnretriedBatchsSize).
// A sender that retries it here makes it fail again and holds it
// another FailedAppendHeld: readiness comes back at most that often
// while such a batch does not fit.
const FailedAppendHeld = 5 * time.Minute

// Probe, while appends fail, reserves (reserve), fsyncs and removes in
// the store's directory a file as large as the failed append needed, and
// on success takes the store as writable again (the next append tells
// for sure). A collector taken out of its Service's endpoints by /readyz
// gets no batch to try, so without it one that failed once (a full disk
// since freed) stayed not ready for ever. A page alone made a disk with
// a few pages free, but not the room of the batch its sender retries,
// ready and "storing" until that batch failed again, whenever anyone
// asked /readyz (TestCollectorReadyzProbesTheFailedAppendsSize).
//
// Probe probes at most once every DefaultProbeEvery; a call sooner does
// nothing and returns nil (Health says what the last probe found). The
// room it reserves is the failed append's for FailedAppendHeld after it.
func (s *Store) Probe() error {
	if s.failSince.Load() == 0 {
		return nil
	}
	now := s.cfg.Now().UnixNano()
	last := s.probedAt.Load()
	if last != 0 && now >= last && now-last < s.probeEvery.Load() {
		return nil
	}
	if !s.probedAt.CompareAndSwap(last, now) {
		return nil // another caller probes now
	}
	s.probes.Add(1)
	need := int64(probeSize)
	if now-s.failLast.Load() < int64(FailedAppendHeld) {
		need = max(need, s.failNeed.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("collector: store %q is closed", s.dir)
	}
	if s.seg != nil && durable.Unlinked(s.seg) {
		return fmt.Errorf("%w: segment %q was deleted while open; restart the collector", errSegmentDeleted, s.seg.Name())
	}
	if s.seg != nil {
		// A new file fits a file size limit the open segment is at.
		if err := segmentRoom(s.seg, need); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(s.dir, probePattern)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = reserve(f, need)
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
