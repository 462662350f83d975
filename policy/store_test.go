package policy

import "testing"

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
