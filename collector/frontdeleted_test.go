package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartRefusesOldestSegmentsDeletedByHand: retention deletes the
// oldest segments and keeps their digests, and so does a person who
// deletes the oldest segment files by hand: the start took both (the
// digests run from segment 1, no hole after a segment kept), and only
// verify told them apart, by the trail's retention entries. The start
// now checks that each segment gone at the front is accounted for by
// the trail (a retention entry naming it, or the newest retention entry
// when the segment had come due under it, as verify judges), or was due
// under the retention in force at the start, as a crash of retention on
// a full disk leaves it; it refuses the rest, naming them.
func TestStartRefusesOldestSegmentsDeletedByHand(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		retention time.Duration
		// prune: real retention expires the segments closed first, two
		// hours on, before more are stored.
		prune bool
	}{
		"no retention":                             {},
		"a retention of an hour, none due":         {retention: time.Hour},
		"after real retention, the next ones kept": {retention: time.Hour, prune: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			now := time.Now().Add(-3 * time.Hour)
			cfg := StoreConfig{SegmentMaxBytes: 1500, Retention: tc.retention, Now: func() time.Time { return now }}
			st := openTestStore(t, dir, key, cfg, 0, 12)
			if tc.prune {
				now = now.Add(2 * time.Hour)
				if err := st.Maintain(now); err != nil {
					t.Fatal(err)
				}
				appendBatches(t, st, 100, 12)
			}
			st.Close()
			segs, digests, _ := listSegments(dir)
			if len(segs) < 4 {
				t.Fatalf("segments %v: the test needs 4 kept", segs)
			}
			expired := len(digests) - len(segs)
			victims := segs[:2]
			for _, n := range victims {
				if err := os.Remove(filepath.Join(dir, segName(n))); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := VerifyWith(dir, pubOf(key), VerifyOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if !hasWhat(rep, ProblemMissingSegment) {
				t.Fatalf("verify of the store as left: %v, want a missing segment", problems(rep))
			}
			st, err = OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1500, Retention: tc.retention, Now: func() time.Time { return now }})
			if err == nil {
				st.Close()
				t.Fatalf("OpenStore took the store with %v deleted by hand (%d expired by retention before)", victims, expired)
			}
			want := []string{segName(victims[0]) + " to " + segName(victims[1]), "no retention entry", "run audit verify"}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("OpenStore = %v; want it to name %q", err, w)
				}
			}
			if tc.prune && strings.Contains(err.Error(), segName(1)+" ") {
				t.Errorf("OpenStore = %v; it names %s, which retention deleted", err, segName(1))
			}
		})
	}
}
