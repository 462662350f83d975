package collector

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStartTakesEveryStateSealingLeaves (attack137): the start's gap
// check must take every store a collector leaves: closed (the newest
// segment sealed, none open), a crash after a seal with the next segment
// created empty, a crash mid-way through retention (the oldest segment
// files deleted, their digests kept), every sealed segment file gone
// with none open, and a key rotated then a crash with its segment open.
func TestStartTakesEveryStateSealingLeaves(t *testing.T) {
	t.Parallel()
	for name, leave := range map[string]func(t *testing.T, dir string, st *Store){
		"closed, none open": func(_ *testing.T, _ string, st *Store) { st.Close() },
		"sealed, the next segment created empty": func(t *testing.T, dir string, st *Store) {
			st.Close()
			_, d, _ := listSegments(dir)
			if err := os.WriteFile(filepath.Join(dir, segName(d[len(d)-1]+1)), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"retention mid-way, a segment open": func(t *testing.T, dir string, st *Store) {
			st.seg.Close()
			for _, n := range []uint64{1, 2} {
				os.Remove(filepath.Join(dir, segName(n)))
			}
		},
		"every sealed segment file gone, none open": func(t *testing.T, dir string, st *Store) {
			st.Close()
			segs, _, _ := listSegments(dir)
			for _, n := range segs {
				os.Remove(filepath.Join(dir, segName(n)))
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
			leave(t, dir, st)
			st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 100, 2)
			st.Close()
		})
	}
	t.Run("a key rotated, then a crash", func(t *testing.T) {
		t.Parallel()
		dir, key, next := t.TempDir(), newTestKey(t), newTestKey(t)
		st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
		st.Close()
		st = openTestStore(t, dir, next, StoreConfig{SegmentMaxBytes: 1500, PreviousKey: key}, 100, 12)
		st.seg.Close()
		st = openTestStore(t, dir, next, StoreConfig{SegmentMaxBytes: 1500, PreviousKey: key}, 200, 2)
		st.Close()
	})
}
