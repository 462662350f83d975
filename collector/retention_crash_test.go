package collector

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRetentionCrashBeforeDeleteVerifies: the collector deleted an expired
// segment, then appended the retention entry that accounts for it, so a
// crash between the two left a segment deleted with no entry: every verify
// from then on reported it missing, after an ordinary crash (an outside
// review). The entry now comes first: a crash between them leaves the
// state built here, a segment the chain says is expired but still on
// disk, which verifies, is deleted at the next pass after the restart,
// and is not recorded expired twice.
func TestRetentionCrashBeforeDeleteVerifies(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	// The store's clock starts in the past: verify judges retention by its
	// own clock (TestRetentionByClockStillAheadFound), and time the test
	// lets pass must not run ahead of it.
	now := time.Now().Add(-3 * time.Hour)
	cfg := StoreConfig{SegmentMaxBytes: 3000, Retention: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 8)
	before := copyDir(t, dir)
	now = now.Add(2 * time.Hour) // segments closed from now on are not due at the restart
	later := now
	if err := st.Maintain(later); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, digests, _ := listSegments(before) // the segments closed before, all due
	if len(digests) < 2 {
		t.Fatalf("%d closed segments; the test needs several", len(digests))
	}
	// The crash: the retention entries are in the chain, the segments
	// they name not yet deleted.
	for _, n := range digests {
		b, err := os.ReadFile(filepath.Join(before, segName(n)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, segName(n)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep, _ := Verify(dir, pub)
	wantProblems(t, rep)

	st = openTestStore(t, dir, key, cfg, 100, 0) // restarted
	if err := st.Maintain(later); err != nil {
		t.Fatal(err)
	}
	st.Close()
	rep, _ = Verify(dir, pub)
	wantProblems(t, rep)
	if rep.Expired != len(digests) {
		t.Errorf("expired = %d, want %d", rep.Expired, len(digests))
	}
	counts := map[uint64]int{}
	segs, _, _ := listSegments(dir)
	for _, n := range segs {
		for _, line := range segLines(t, dir, n) {
			var l entryLine
			var h entryHeader
			if json.Unmarshal(line, &l) == nil && json.Unmarshal(l.Body, &h) == nil && h.Kind == KindRetention {
				counts[h.Segment]++
			}
		}
	}
	for _, n := range digests {
		if _, err := os.Lstat(filepath.Join(dir, segName(n))); !os.IsNotExist(err) {
			t.Errorf("segment %d not deleted after the restart: %v", n, err)
		}
		if counts[n] != 1 {
			t.Errorf("segment %d recorded expired %d times, want once", n, counts[n])
		}
	}
}

// TestRetentionOverTwoPeriodsVerifies: retention entries go into the open
// segment, which a later pass expires in its turn, and the entries for the
// segments before it went with it: from the second retention period on,
// every verify reported those segments missing. A valid entry for a later
// segment now accounts for an earlier one that closed, by its signed
// digest, longer ago than the retention in force; a segment deleted that
// no entry accounts for is still reported.
func TestRetentionOverTwoPeriodsVerifies(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	// The store's clock starts in the past: verify judges retention by its
	// own clock (TestRetentionByClockStillAheadFound), and time the test
	// lets pass must not run ahead of it.
	now := time.Now().Add(-5 * time.Hour)
	cfg := StoreConfig{SegmentMaxBytes: 3000, Retention: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 8)
	now = now.Add(2 * time.Hour)
	if err := st.Maintain(now); err != nil {
		t.Fatal(err)
	}
	st.Close()
	first, _ := Verify(dir, pub)
	wantProblems(t, first)

	st = openTestStore(t, dir, key, cfg, 100, 8) // the next period's batches
	now = now.Add(2 * time.Hour)
	if err := st.Maintain(now); err != nil {
		t.Fatal(err)
	}
	st.Close()
	rep, _ := Verify(dir, pub)
	wantProblems(t, rep)
	if rep.Expired <= first.Expired {
		t.Fatalf("expired %d after the second pass, %d after the first", rep.Expired, first.Expired)
	}

	// A segment that closed within the retention period, deleted: no
	// retention entry accounts for it.
	st = openTestStore(t, dir, key, cfg, 200, 8)
	st.Close()
	_, digests, _ := listSegments(dir)
	young := digests[len(digests)-1]
	if err := os.Remove(filepath.Join(dir, segName(young))); err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(dir, pub)
	wantProblems(t, rep, ProblemMissingSegment)
}
