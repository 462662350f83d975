package policy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Store holds the current Snapshot. Readers call Load once per request and
// use that pointer for the whole request; writers compile a whole new
// Snapshot and Swap it in. A failed compile never reaches the Store, so the
// old Snapshot stays; writers report it with Fail. The zero Store holds no
// Snapshot (Load returns nil: deny everything) and is ready to use.
//
// What a consumer derives from a Snapshot (limit tables, token verifiers
// and their first key fetch) is built by a preparer (AddPreparer) on the
// writer's goroutine before Swap installs the Snapshot, so a reader never
// builds anything or waits for a writer: Load takes no lock.
type Store struct {
	cur      atomic.Pointer[Snapshot]
	loadedAt atomic.Int64 // unix nanoseconds of the last Swap
	failures atomic.Int64
	heardAt  atomic.Int64 // unix nanoseconds the source last confirmed the snapshot is current
	// heardMono is the same instant on the monotonic clock, nanoseconds
	// since monoStart (HeardTime).
	heardMono atomic.Int64

	mu        sync.Mutex // guards the following fields; writers only, never Load
	preparers map[int]func(*Snapshot)
	nextID    int
}

// Load returns the current Snapshot, or nil before the first Swap.
func (s *Store) Load() *Snapshot { return s.cur.Load() }

// Swap runs every preparer on snap, then installs it as the current
// Snapshot. Swaps are serialised, so preparers see Snapshots in the order
// they are installed.
func (s *Store) Swap(snap *Snapshot) {
	s.swap(snap, true, 0)
}

// SwapHeard is Swap for a Snapshot its source confirmed at heard (unix
// nanoseconds, as Heard takes it), not now: a last-known-good file's,
// installed while etcd does not answer. Swap counts the Snapshot as
// confirmed now; the file's own time, set after it, left a window in
// which a policy etcd had not confirmed for an hour read as confirmed
// microseconds ago (TestLastKnownGoodFromTheFutureIsStale failed so).
func (s *Store) SwapHeard(snap *Snapshot, heard int64) {
	s.swap(snap, false, heard)
}

// swap installs snap, counted as confirmed now when fresh, else at heard,
// set before snap is in force.
func (s *Store) swap(snap *Snapshot, fresh bool, heard int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.preparers {
		p(snap)
	}
	t := time.Now()
	now := t.UnixNano()
	if !fresh {
		s.Heard(heard)
	}
	s.cur.Store(snap)
	s.loadedAt.Store(now)
	if fresh {
		s.heardAt.Store(now)
		s.heardMono.Store(int64(t.Sub(monoStart)))
	}
}

// monoStart anchors the monotonic readings of HeardTime.
var monoStart = time.Now()

// Reprepare runs the preparers again on the Snapshot in force, without
// swapping it or touching when it was loaded or heard: what a preparer
// builds from outside the Snapshot (a secret file an issuer names)
// changed.
func (s *Store) Reprepare() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.cur.Load(); cur != nil {
		for _, p := range s.preparers {
			p(cur)
		}
	}
}

// AddPreparer registers prepare to run on every Snapshot before Swap
// installs it, on the writer's goroutine, and runs it now on the current
// Snapshot if there is one. prepare may take its time (Swap waits for it)
// but must not call Swap or AddPreparer. The returned func unregisters it.
func (s *Store) AddPreparer(prepare func(*Snapshot)) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.preparers == nil {
		s.preparers = map[int]func(*Snapshot){}
	}
	id := s.nextID
	s.nextID++
	s.preparers[id] = prepare
	if cur := s.cur.Load(); cur != nil {
		prepare(cur)
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.preparers, id)
	}
}

// Fail counts a policy that did not compile.
func (s *Store) Fail() { s.failures.Add(1) }

// Failures returns how many policies failed to compile.
func (s *Store) Failures() int64 { return s.failures.Load() }

// LoadedAt returns when the current Snapshot was installed (zero if none).
func (s *Store) LoadedAt() time.Time {
	if n := s.loadedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Heard records that the policy source confirmed at now (unix nanoseconds)
// that the current Snapshot is up to date (an etcd event or progress
// notification).
//
// A confirmation later than the clock reads (a last-known-good file's,
// saved before the wall clock was stepped back) is of unknown age and
// counts as none: taken as it was, it lay ahead on both clocks and held
// off staleness.max_age by the step (an hour's step, an hour more of
// serving on tables etcd had not confirmed), and the staleness metric
// read 0 (TestLastKnownGoodFromTheFutureIsStale).
//
// A confirmation ahead by no more than futureSlack is taken as made now:
// clocks slewed by NTP, or a file written by the process before a restart
// on a clock adjusted by milliseconds, would otherwise deny every
// credentialed request until etcd answered (found by the final read,
// read77).
func (s *Store) Heard(now int64) {
	t := time.Now()
	if ahead := now - t.UnixNano(); ahead > 0 {
		if ahead > int64(futureSlack) {
			s.heardAt.Store(0)
			s.heardMono.Store(neverHeard)
			return
		}
		now = t.UnixNano()
	}
	s.heardAt.Store(now)
	// now may lie in the past (a last-known-good file's confirmation):
	// the monotonic reading is moved back as far.
	s.heardMono.Store(int64(t.Sub(monoStart)) - (t.UnixNano() - now))
}

// futureSlack is how far ahead of the clock a confirmation may lie and
// still count (Heard): well below any staleness.max_age, well above the
// clock adjustments NTP makes without a step.
const futureSlack = time.Second

// neverHeard is heardMono of a Store whose last confirmation counts as
// none: about 73 years before monoStart, past any staleness bound, and
// far enough from the int64 limits that ages taken from it do not wrap.
const neverHeard = -1 << 61

// HeardAge returns how long before wall (unix nanoseconds) and mono (the
// same instant, carrying a monotonic clock reading, as time.Now gives)
// the source last confirmed the snapshot, and false when it has not (or
// its confirmation counts as none, Heard). It is the larger of the ages on
// the two clocks, as the data plane enforces staleness.max_age (either
// past the bound denies), so that a metric or a readiness line built on it
// agrees with what requests get: on the wall clock alone, one stepped back
// after a confirmation read an age short by the step, 0 while requests
// were refused as stale (TestStalenessMetricAfterWallClockStepsBack).
func (s *Store) HeardAge(wall int64, mono time.Time) (time.Duration, bool) {
	at := s.heardAt.Load()
	if at == 0 {
		return 0, false
	}
	return max(time.Duration(wall-at), mono.Sub(s.HeardTime()), 0), true
}

// HeardAt returns the unix nanoseconds of the last confirmation.
func (s *Store) HeardAt() int64 { return s.heardAt.Load() }

// HeardTime returns the last confirmation as a time carrying a monotonic
// clock reading, so that its age (time.Since) is not moved by a step of
// the wall clock after it: one stepped back an hour stretched
// staleness.max_age, measured on the wall clock alone, by an hour
// (TestPolicyStaleAfterWallClockStepsBack). Before any confirmation it
// is the package's start.
func (s *Store) HeardTime() time.Time { return monoStart.Add(time.Duration(s.heardMono.Load())) }
