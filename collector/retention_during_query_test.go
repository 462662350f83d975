package collector

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetentionDuringQueryIsRetention: a reader without the key (audit
// query, events list, the alert replay) lists the store, then reads its
// segments one by one; a running collector's retention pass in between
// deleted a listed segment, and the read failed with "cannot open
// segment" on an intact trail. A listed segment gone at its open is now
// skipped, as verify skips it (TestRetentionDuringVerifyIsRetention), when
// a retention entry read after it names it or it closed longer ago than
// the retention the store's head records (the entry went into a segment
// past the listing); a segment that vanished otherwise is still an error.
func TestRetentionDuringQueryIsRetention(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	// reads are the readers without a key, each of the store as listed.
	reads := []struct {
		name string
		run  func(dir string, segs, digests []uint64) (int, error)
	}{
		{"QueryRecords", func(dir string, segs, digests []uint64) (int, error) {
			n := 0
			_, err := scanListed(entryScanner{want: isBatch, reuse: &bodyBuffers{}, found: true, fn: func(e *Entry) error {
				n += len(e.Records)
				return nil
			}}, dir, segs, digests)
			return n, err
		}},
		{"a pass that does not verify", func(dir string, segs, digests []uint64) (int, error) {
			n := 0
			_, err := readListed(dir, Pass{Records: func(*Entry, *StoredRecord) error { n++; return nil }}, segs, digests)
			return n, err
		}},
	}
	// store holds segment 1, closed 2h1m after the store's clock started
	// back before the real one (2 batches, 4 records), and segment 2,
	// open, with 2 batches; the retention is 3h.
	store := func(t *testing.T, back time.Duration) (dir string, st *Store, now *time.Time) {
		dir, now = t.TempDir(), new(time.Time)
		*now = time.Now().Add(-back)
		cfg := StoreConfig{SegmentMaxAge: 2 * time.Hour, Retention: 3 * time.Hour, Now: func() time.Time { return *now }}
		st = openTestStore(t, dir, key, cfg, 0, 2)
		*now = now.Add(2*time.Hour + time.Minute)
		if err := st.Maintain(*now); err != nil { // segment 1 closes
			t.Fatal(err)
		}
		appendBatches(t, st, 2, 2)
		t.Cleanup(func() { st.Close() })
		return dir, st, now
	}
	expire := func(t *testing.T, st *Store, now time.Time) {
		t.Helper()
		if err := st.Maintain(now); err != nil {
			t.Fatal(err)
		}
		if st.Stats().Expired != 1 {
			t.Fatalf("%d segments expired; the test needs segment 1 deleted after the listing", st.Stats().Expired)
		}
	}
	for _, r := range reads {
		t.Run(r.name+", the entry in the listing", func(t *testing.T) {
			t.Parallel()
			dir, st, now := store(t, 6*time.Hour)
			segs, digests, err := listStore(dir) // the reader lists the store...
			if err != nil {
				t.Fatal(err)
			}
			expire(t, st, now.Add(3*time.Hour+time.Minute)) // ...the collector's retention pass deletes segment 1...
			n, err := r.run(dir, segs, digests)             // ...and the reader reads what it listed
			if err != nil {
				t.Fatalf("a segment retention deleted during the read: %v; want it skipped", err)
			}
			if n != 4 {
				t.Errorf("%d records read, want segment 2's 4", n)
			}
		})
		t.Run(r.name+", the entry past the listing", func(t *testing.T) {
			t.Parallel()
			dir, st, now := store(t, 6*time.Hour)
			segs, digests, err := listStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			*now = now.Add(2*time.Hour + time.Minute)
			if err := st.Maintain(*now); err != nil { // segment 2 closes...
				t.Fatal(err)
			}
			appendBatches(t, st, 4, 1)
			expire(t, st, now.Add(time.Hour)) // ...and segment 1 expires, its entry in segment 3, which the listing lacks
			n, err := r.run(dir, segs, digests)
			if err != nil {
				t.Fatalf("a segment retention deleted during the read: %v; want it skipped", err)
			}
			if n != 4 {
				t.Errorf("%d records read, want segment 2's 4", n)
			}
		})
		t.Run(r.name+", deleted otherwise", func(t *testing.T) {
			t.Parallel()
			dir, _, _ := store(t, 2*time.Hour+2*time.Minute) // segment 1 closed a minute ago
			segs, digests, err := listStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, segName(1))); err != nil {
				t.Fatal(err)
			}
			_, err = r.run(dir, segs, digests)
			if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), segName(1)) {
				t.Errorf("segment 1 deleted by hand, not due: error %v; want one naming it", err)
			}
		})
	}
}
