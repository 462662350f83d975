package policy

import (
	"sync/atomic"
	"time"
)

// Store holds the current Snapshot. Readers call Load once per request and
// use that pointer for the whole request; writers compile a whole new
// Snapshot and Swap it in. A failed compile never reaches the Store, so the
// old Snapshot stays; writers report it with Fail. The zero Store holds no
// Snapshot (Load returns nil: deny everything) and is ready to use.
type Store struct {
	cur      atomic.Pointer[Snapshot]
	loadedAt atomic.Int64 // unix nanoseconds of the last Swap
	failures atomic.Int64
	heardAt  atomic.Int64 // unix nanoseconds the source last confirmed the snapshot is current
}

// Load returns the current Snapshot, or nil before the first Swap.
func (s *Store) Load() *Snapshot { return s.cur.Load() }

// Swap installs snap as the current Snapshot.
func (s *Store) Swap(snap *Snapshot) {
	now := time.Now().UnixNano()
	s.cur.Store(snap)
	s.loadedAt.Store(now)
	s.heardAt.Store(now)
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
func (s *Store) Heard(now int64) { s.heardAt.Store(now) }

// HeardAt returns the unix nanoseconds of the last confirmation.
func (s *Store) HeardAt() int64 { return s.heardAt.Load() }
