package policy

import (
	"testing"
	"time"
)

// TestStorePreparesBeforeSwap checks that a preparer sees a Snapshot before
// readers can load it, runs on the current Snapshot when registered, and
// stops after removal.
func TestStorePreparesBeforeSwap(t *testing.T) {
	t.Parallel()
	var s Store
	a, b, c := &Snapshot{Revision: 1}, &Snapshot{Revision: 2}, &Snapshot{Revision: 3}
	s.Swap(a)
	var prepared []int64
	remove := s.AddPreparer(func(next *Snapshot) {
		prepared = append(prepared, next.Revision)
		if cur := s.Load(); cur == next && next != a {
			t.Errorf("revision %d loadable before its preparer finished", next.Revision)
		}
	})
	s.Swap(b)
	remove()
	s.Swap(c)
	if got, want := prepared, []int64{1, 2}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("prepared revisions %v, want %v", got, want)
	}
	if s.Load() != c {
		t.Errorf("Load() = revision %d, want 3", s.Load().Revision)
	}
}

// TestHeardSlightlyAheadCounts: a confirmation a few milliseconds ahead
// of the clock (a last-known-good file saved just before a restart on a
// clock NTP set back by as much) counts, as made now; one an hour ahead
// counts as none (TestLastKnownGoodFromTheFutureIsStale). Before, the
// first counted as none too, and with etcd unreachable and action deny
// every credentialed request was refused.
func TestHeardSlightlyAheadCounts(t *testing.T) {
	t.Parallel()
	var s Store
	s.Heard(time.Now().Add(50 * time.Millisecond).UnixNano())
	if age, ok := s.HeardAge(time.Now().UnixNano(), time.Now()); !ok || age > time.Second {
		t.Errorf("heard 50ms ahead of the clock: age %v, confirmed %v; want confirmed, about now", age, ok)
	}
	s.Heard(time.Now().Add(time.Hour).UnixNano())
	if _, ok := s.HeardAge(time.Now().UnixNano(), time.Now()); ok {
		t.Error("heard an hour ahead of the clock: confirmed; want none")
	}
}

// SwapHeard installs a Snapshot counted as confirmed when its source said
// (a last-known-good file's save), never now: Swap counted it confirmed
// now, and the file's own time, set after, left a window in which a
// policy unconfirmed for an hour read as fresh
// (TestLastKnownGoodFromTheFutureIsStale failed so in CI). A time ahead
// of the clock counts as no confirmation, as Heard has it.
func TestSwapHeardCountsTheSourcesTime(t *testing.T) {
	t.Parallel()
	var s Store
	saved := time.Now().Add(-time.Hour).UnixNano()
	s.SwapHeard(&Snapshot{Revision: 1}, saved)
	if got := s.HeardAt(); got != saved {
		t.Errorf("HeardAt after SwapHeard = %d, want the source's time %d", got, saved)
	}
	if d, ok := s.HeardAge(time.Now().UnixNano(), time.Now()); !ok || d < 59*time.Minute {
		t.Errorf("HeardAge after SwapHeard an hour back = %v, %v; want about an hour", d, ok)
	}
	s.SwapHeard(&Snapshot{Revision: 2}, time.Now().Add(time.Hour).UnixNano())
	if got := s.HeardAt(); got != 0 {
		t.Errorf("HeardAt after SwapHeard an hour ahead = %d, want 0: no confirmation", got)
	}
	if s.Load().Revision != 2 || s.LoadedAt().IsZero() {
		t.Errorf("SwapHeard did not install the snapshot: %+v loaded %v", s.Load(), s.LoadedAt())
	}
	s.Swap(&Snapshot{Revision: 3})
	if d, ok := s.HeardAge(time.Now().UnixNano(), time.Now()); !ok || d > time.Minute {
		t.Errorf("HeardAge after Swap = %v, %v; want confirmed now", d, ok)
	}
}
