package collector

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// TestRotationDuringVerifyIsNoCut: verify lists the store, then reads
// the digests and the head; a running collector that rotated its segment
// and appended to the next one in between left a head naming a segment
// the listing did not hold, and verify reported that segment missing and
// the chain cut: a verify beside a busy collector failed now and then on
// an intact trail. A head naming a segment past the listing now has
// verify list the store again, for the segments and digests written since.
func TestRotationDuringVerifyIsNoCut(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Now()
	cfg := StoreConfig{SegmentMaxAge: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 3)
	defer st.Close()
	segs, digests, err := listStore(dir) // verify lists the store...
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Minute)
	if err := st.Maintain(now); err != nil { // ...the collector rotates...
		t.Fatal(err)
	}
	appendBatches(t, st, 3, 2) // ...and appends to the next segment, moving its head there
	for _, check := range []struct {
		name string
		run  func() (*VerifyReport, error)
	}{
		{"verify", func() (*VerifyReport, error) {
			return verifyWith(dir, pub, VerifyOptions{Now: now}, segs, digests, nil)
		}},
		{"a verifying pass", func() (*VerifyReport, error) {
			n := 0
			s := &passScan{dir: dir, p: &Pass{VerifyKey: pub, Records: func(*Entry, *StoredRecord) error { n++; return nil }}, segs: segs}
			rep, err := verifyWith(dir, pub, VerifyOptions{Now: now}, segs, digests, s)
			if err == nil && n != 10 {
				t.Errorf("the pass read %d records, want the 10 stored", n)
			}
			return rep, err
		}},
	} {
		rep, err := check.run()
		if err != nil {
			t.Fatalf("%s: %v", check.name, err)
		}
		if len(rep.Problems) != 0 {
			t.Errorf("%s of a listing taken before a rotation: problems %v; want none", check.name, rep.Problems)
		}
	}
}
