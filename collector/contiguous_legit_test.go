package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStartTakesEveryStateSealingLeaves (attack137): the start's gap
// check must take every store a collector leaves: closed (the newest
// segment sealed, none open), a crash after a seal with the next segment
// created empty, a crash mid-way through retention (the oldest segment
// files deleted, their digests kept and the trail's entries naming them),
// every sealed segment file gone with none open (retention's crash on a
// full disk), retention over two periods (the entries of the first gone
// with their segment), and a key rotated then a crash with its segment
// open.
func TestStartTakesEveryStateSealingLeaves(t *testing.T) {
	t.Parallel()
	for name, leave := range map[string]func(t *testing.T, dir string, st *Store){
		"closed, none open": func(_ *testing.T, _ string, st *Store) { st.Close() },
		// The digest is durable, the head not yet signed again: it
		// says the segment before was the newest sealed (attack146).
		"sealed, the head not yet signed again": func(t *testing.T, dir string, st *Store) {
			head, err := os.ReadFile(filepath.Join(dir, headFile))
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			if err := os.WriteFile(filepath.Join(dir, headFile), head, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"sealed, the next segment created empty": func(t *testing.T, dir string, st *Store) {
			st.Close()
			_, d, _ := listSegments(dir)
			if err := os.WriteFile(filepath.Join(dir, segName(d[len(d)-1]+1)), nil, 0o600); err != nil {
				t.Fatal(err)
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
	// Retention's states are made by retention, at a clock moved on:
	// segments deleted by hand at the front, with no retention entry,
	// are refused (TestStartRefusesOldestSegmentsDeletedByHand).
	retention := func(t *testing.T) (dir string, key []byte, cfg StoreConfig, now *time.Time, st *Store) {
		dir, key, now = t.TempDir(), newTestKey(t), new(time.Time)
		*now = time.Now().Add(-5 * time.Hour)
		cfg = StoreConfig{SegmentMaxBytes: 1500, Retention: time.Hour, Now: func() time.Time { return *now }}
		return dir, key, cfg, now, openTestStore(t, dir, key, cfg, 0, 12)
	}
	t.Run("retention mid-way, a segment open, then retention off", func(t *testing.T) {
		t.Parallel()
		dir, key, cfg, now, st := retention(t)
		before := copyDir(t, dir)
		*now = now.Add(2 * time.Hour)
		if err := st.Maintain(*now); err != nil {
			t.Fatal(err)
		}
		appendBatches(t, st, 50, 1)
		st.seg.Close() // a crash, the segment open
		// Mid-way: the newest expired segment's entry is written, the
		// segment not yet deleted.
		_, digests, _ := listSegments(before)
		last := digests[len(digests)-1]
		b, err := os.ReadFile(filepath.Join(before, segName(last)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, segName(last)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Retention = 0
		st = openTestStore(t, dir, key, cfg, 100, 2)
		st.Close()
	})
	t.Run("every sealed segment file gone, none open: retention's crash on a full disk", func(t *testing.T) {
		t.Parallel()
		dir, key, cfg, now, st := retention(t)
		if err := st.Rotate(); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(2 * time.Hour)
		st.cfg.SegmentMaxBytes = 1 << 20
		if err := st.Maintain(*now); err != nil { // the entries go into a segment of their own...
			t.Fatal(err)
		}
		st.Close() // ...sealed
		*now = now.Add(2 * time.Hour)
		// On a full disk retention deletes a segment before writing its
		// entry: the crash between the two, for the segment holding the
		// entries of all before it.
		segs, _, _ := listSegments(dir)
		if len(segs) != 1 {
			t.Fatalf("segments %v left by retention, want the one of its entries", segs)
		}
		os.Remove(filepath.Join(dir, segName(segs[0])))
		st = openTestStore(t, dir, key, cfg, 100, 2)
		st.Close()
	})
	t.Run("retention over two periods, then retention off", func(t *testing.T) {
		t.Parallel()
		dir, key, cfg, now, st := retention(t)
		for i := range 2 { // the second pass deletes the segments of the first's entries
			*now = now.Add(2 * time.Hour)
			if err := st.Maintain(*now); err != nil {
				t.Fatal(err)
			}
			appendBatches(t, st, 50+i, 1)
			if err := st.Rotate(); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
		cfg.Retention = 0
		st = openTestStore(t, dir, key, cfg, 100, 2)
		st.Close()
	})
	// A key rotation's seal, by the old key, its head signed by the old
	// key too, then a crash: before the next segment (with the rotation
	// entry) was created, or with it created empty (attack146).
	for name, created := range map[string]bool{"no next segment": false, "the next segment created empty": true} {
		t.Run("a key rotation's seal, then a crash: "+name, func(t *testing.T) {
			t.Parallel()
			dir, key, next := t.TempDir(), newTestKey(t), newTestKey(t)
			st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
			st.seg.Close() // a crash, the segment open
			rotated := StoreConfig{SegmentMaxBytes: 1500, PreviousKey: key}
			st = openTestStore(t, dir, next, rotated, 100, 0)
			st.seg.Close()
			_, digests, _ := listSegments(dir)
			n := digests[len(digests)-1]
			d, _, err := st.readDigest(n)
			if err != nil {
				t.Fatal(err)
			}
			ret := int64(0)
			head, _, err := signDoc(key, domainHead, storeHead{Segment: n, Seq: d.LastSeq, Hash: d.LastHash,
				Time: d.End, RetentionSeconds: &ret, Sealed: n})
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range map[string][]byte{headFile: head, segName(n + 1): nil} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if !created {
				os.Remove(filepath.Join(dir, segName(n+1)))
			}
			if err := os.Remove(filepath.Join(dir, rotationsFile)); err != nil {
				t.Fatal(err)
			}
			st = openTestStore(t, dir, next, rotated, 200, 2)
			st.Close()
			rep, err := Verify(dir, next.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, rep)
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
