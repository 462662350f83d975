package collector

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// TestRetentionByClockStillAheadFound: a collector whose clock is set
// ahead and stays there deletes segments that are not due, under signed
// retention entries that, dated by that clock, look due; every entry
// after them is dated by the same clock, so checkRetentionClock, which
// finds a clock put right, found nothing, and verify accepted the
// deletions. A retention entry is now also judged by verify's own clock:
// bad when its segment's records are younger than the retention by it, or
// when the entry is dated more than RetentionFutureSkew after it.
func TestRetentionByClockStillAheadFound(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	badClock := func(t *testing.T, rep *VerifyReport) {
		t.Helper()
		found := false
		for _, p := range rep.Problems {
			found = found || p.What == ProblemBadRetention && strings.Contains(p.Detail, "verify's clock")
		}
		if !found {
			t.Errorf("problems %q; want a bad retention naming verify's clock", rep.Problems)
		}
	}

	t.Run("a month ahead", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		now := time.Now()
		cfg := StoreConfig{SegmentMaxBytes: 3000, Retention: 30 * 24 * time.Hour, Now: func() time.Time { return now }}
		st := openTestStore(t, dir, key, cfg, 0, 8)
		real := now.Add(time.Minute)
		now = now.Add(31 * 24 * time.Hour) // the clock set a month ahead, and left there
		if err := st.Maintain(now); err != nil {
			t.Fatal(err)
		}
		if st.Stats().Expired == 0 {
			t.Fatal("nothing expired; the test needs the clock ahead to delete segments")
		}
		appendBatches(t, st, 8, 2)
		st.Close()
		rep, err := VerifyWith(dir, pub, VerifyOptions{Now: real})
		if err != nil {
			t.Fatal(err)
		}
		badClock(t, rep)
	})

	// A segment that was due by any clock, deleted by one that stays ten
	// minutes ahead: the retention entry is dated in verify's future.
	// Three minutes ahead is within RetentionFutureSkew.
	for _, c := range []struct {
		ahead time.Duration
		bad   bool
	}{{10 * time.Minute, true}, {3 * time.Minute, false}} {
		t.Run(c.ahead.String()+" ahead", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			real := time.Now().Add(-4 * time.Hour)
			now := real
			cfg := StoreConfig{SegmentMaxAge: 2 * time.Hour, Retention: time.Hour, Now: func() time.Time { return now }}
			st := openTestStore(t, dir, key, cfg, 0, 2)
			real = real.Add(2*time.Hour + time.Minute)
			now = real
			if err := st.Maintain(now); err != nil { // segment 1 closes
				t.Fatal(err)
			}
			appendBatches(t, st, 2, 2)
			real = real.Add(2 * time.Hour) // segment 1 is due by any clock
			now = real.Add(c.ahead)
			if err := st.Maintain(now); err != nil {
				t.Fatal(err)
			}
			if st.Stats().Expired != 1 {
				t.Fatalf("%d segments expired, want 1", st.Stats().Expired)
			}
			appendBatches(t, st, 4, 2)
			st.Close()
			rep, err := VerifyWith(dir, pub, VerifyOptions{Now: real})
			if err != nil {
				t.Fatal(err)
			}
			if c.bad {
				badClock(t, rep)
				return
			}
			wantProblems(t, rep)
		})
	}
}
