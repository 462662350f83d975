package collector

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

// ScanVerifiedEntries passes every entry the collector wrote, across
// segments and across the break it recorded at a restart over a forged
// tail, and never yields the forged entry the break excluded; an entry
// edited in a sealed segment is yielded unverified, and the entries after
// it still pass.
func TestScanVerifiedEntriesPassesTheCollectorsChain(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 2000}, 0, 6)
	segs, _, _ := listSegments(dir)
	open := segs[len(segs)-1]
	st.seg.Close() // a crash, then a forged entry appended
	forgeBatch(t, dir, open, "b6", time.Now())
	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 2000}, 6, 3)
	st.Close()

	scan := func() (verified, failed int, forged bool) {
		t.Helper()
		_, err := ScanVerifiedEntries(dir, pub, 0, [32]byte{}, func(e *Entry) error {
			if e.Verified {
				verified++
			} else {
				failed++
			}
			for _, r := range e.Records {
				forged = forged || r.Tenant == "forged-tenant"
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if v, f, forged := scan(); f != 0 || forged || v != 10 {
		t.Fatalf("chain with a recorded break: %d verified, %d failed, forged yielded %v; want the 9 batches and the break verified", v, f, forged)
	}
	segs, _, _ = listSegments(dir)
	lines := segLines(t, dir, segs[0])
	lines[0] = bytes.Replace(lines[0], []byte(`"status":200`), []byte(`"status":201`), 1)
	writeSeg(t, dir, segs[0], lines)
	if v, f, _ := scan(); f != 1 || v != 9 {
		t.Errorf("an entry edited in a sealed segment: %d verified, %d failed; want that one failed, the 9 others verified", v, f)
	}
}
