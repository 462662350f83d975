package collector

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// TestRetentionDuringVerifyIsRetention: verify lists the store, then
// reads its segments one by one; a retention pass of the running
// collector in between deleted a listed segment (after writing, fsync'd,
// the entry that accounts for it), and verify reported it missing ("cannot
// read") and the chain lost there: a verify run beside a collector failed
// now and then on a trail only retention had touched. A listed segment
// gone when verify opens it is now judged as one absent from the list: by
// its digest and the retention entry that accounts for it.
func TestRetentionDuringVerifyIsRetention(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Now()
	cfg := StoreConfig{SegmentMaxAge: 2 * time.Hour, Retention: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 2)
	now = now.Add(2*time.Hour + time.Minute)
	if err := st.Maintain(now); err != nil { // segment 1 closes
		t.Fatal(err)
	}
	appendBatches(t, st, 2, 2)           // into segment 2
	segs, digests, err := listStore(dir) // verify lists the store...
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Minute)
	if err := st.Maintain(now); err != nil { // ...the collector's retention pass deletes segment 1...
		t.Fatal(err)
	}
	if st.Stats().Expired != 1 {
		t.Fatalf("%d segments expired; the test needs segment 1 deleted after the listing", st.Stats().Expired)
	}
	defer st.Close()
	rep, err := verifyWith(dir, pub, VerifyOptions{Now: now}, segs, digests, nil) // ...and verify reads what it listed
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep)
	if rep.Expired != 1 {
		t.Errorf("expired = %d, want 1", rep.Expired)
	}
}
