package collector

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSegmentNumbersPastEightDigitsListed (headtrail153): segName pads
// to eight digits and writes more past them (seg-100000000.log), but the
// listing took names of eight digits only: segment 100,000,000 and every
// one after it, and their digests, were no files of the store to the
// start, verify, query or retention. Names are listed as segName writes
// them, and only so: eight digits or more, zero-padded to eight and
// never past it.
func TestSegmentNumbersPastEightDigitsListed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := []uint64{1, 99_999_999, 100_000_000, 100_000_001, 1 << 40, 1<<64 - 1}
	for _, n := range want {
		for _, name := range []string{segName(n), digestName(n)} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"seg-0100000000.log", "seg-000000002.digest", "seg-1.log", "seg-+0000003.log",
		"seg-18446744073709551616.log", "seg-1844674407370955161500.digest", "seg-1_000_000.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	segs, digests, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(segs, want) || !slices.Equal(digests, want) {
		t.Errorf("listed segments %v, digests %v; want %v for both (names as segName writes them, no other)", segs, digests, want)
	}
}

// TestStoreRunsPastSegment99999999: a collector that seals segment
// 99,999,999 writes segment 100,000,000 next; verify and the start must
// see it. The store is begun at segment 99,999,999 (the digests before
// it would be a hundred million files), so verify reports those missing
// and the start refuses them, and nothing else: before, segment
// 100,000,000 was not listed, and verify reported it missing under the
// head naming it, and the start refused it as deleted.
func TestStoreRunsPastSegment99999999(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 0)
	st.segNum = 99_999_998
	appendBatches(t, st, 0, 2)
	if err := st.Rotate(); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 2, 2)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "seg-100000000.log")); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, pubOf(key))
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep, ProblemMissingSegment)
	if d := rep.Problems[0].Detail; d != "seg-00000001.log to seg-99999998.log and their digests are gone" {
		t.Errorf("verify: %q; want the segments before 99999999 reported missing", d)
	}
	if rep.Segments != 2 || rep.Batches != 4 {
		t.Errorf("verify checked %d segments, %d batches; want 2, 4", rep.Segments, rep.Batches)
	}
	_, err = OpenStore(dir, StoreConfig{SigningKey: key})
	if err == nil || !strings.Contains(err.Error(), "segments 1 to 99999998 and their digests are gone") || strings.Contains(err.Error(), "100000000") {
		t.Errorf("OpenStore = %v; want it to refuse the segments before 99999999 only", err)
	}
}
