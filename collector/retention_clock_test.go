package collector

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// TestRetentionByClockAheadFound: a collector whose clock was set ahead
// (by mistake, or by whoever steers its time source) deletes segments
// that are not due, and signs retention entries that, judged by their own
// time, are: verify accepted the deletions as retention, after the clock
// was put right and the entries after them were dated hours before. A
// retention entry is now bad when an entry after it in the chain is dated
// less than the retention after the deleted segment closed (beyond
// RetentionClockSkew): the deletion was premature by the later clock.
func TestRetentionByClockAheadFound(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Now()
	cfg := StoreConfig{SegmentMaxBytes: 3000, Retention: 30 * 24 * time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 8)
	real := now.Add(time.Minute)
	now = now.Add(31 * 24 * time.Hour) // the clock set a month ahead
	if err := st.Maintain(now); err != nil {
		t.Fatal(err)
	}
	if st.Stats().Expired == 0 {
		t.Fatal("nothing expired; the test needs the clock ahead to delete segments")
	}
	now = real // the clock put right
	appendBatches(t, st, 8, 2)
	st.Close()
	rep, err := VerifyWith(dir, pub, VerifyOptions{Now: real})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range rep.Problems {
		found = found || p.What == ProblemBadRetention && strings.Contains(p.Detail, "clock")
	}
	if !found {
		t.Fatalf("segments deleted by a clock a month ahead, then entries dated a month before the deletion: problems %q; want a bad retention naming the clock", rep.Problems)
	}

	// Retention by a clock that is right, then entries stepped back a
	// few seconds (NTP), is retention.
	dir = t.TempDir()
	now = time.Now()
	st = openTestStore(t, dir, key, cfg, 0, 8)
	now = now.Add(31 * 24 * time.Hour)
	if err := st.Maintain(now); err != nil {
		t.Fatal(err)
	}
	now = now.Add(-3 * time.Second)
	appendBatches(t, st, 8, 2)
	st.Close()
	rep, err = VerifyWith(dir, pub, VerifyOptions{Now: now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep)
}
