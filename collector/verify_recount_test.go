package collector

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A sealed segment of the size its signed digest says that does not
// hash to it counted none of its entries: its real, signed ones went to
// Unverified with the edited one, and a signed break in it was counted
// both in Breaks and in Unverified. Its entries are now counted by their
// own signatures, as those of a segment not of its digest's size are:
// each failing entry once, in Unverified, and the break in Breaks alone.
func TestSealedSegmentEditedCountsEntriesOnce(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	cfg := StoreConfig{SegmentMaxBytes: 1 << 20}
	openTestStore(t, dir, key, cfg, 0, 3).Close()
	if err := os.Remove(filepath.Join(dir, headFile)); err != nil {
		t.Fatal(err)
	}
	cfg.AcceptMissingHead = "test"
	openTestStore(t, dir, key, cfg, 3, 3).Close()

	rep, err := Verify(dir, pubOf(key))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Breaks != 1 || rep.Batches != 6 || rep.Unverified != 0 {
		t.Fatalf("before the edit: %d breaks, %d batches, %d unverified; want 1, 6, 0\n%v", rep.Breaks, rep.Batches, rep.Unverified, rep.Problems)
	}
	segs, _, _ := listSegments(dir)
	var seg uint64
	var lines [][]byte
	for _, n := range segs {
		if l := segLines(t, dir, n); bytes.Contains(bytes.Join(l, nil), []byte(`"kind":"break"`)) {
			seg, lines = n, l
		}
	}
	if lines == nil {
		t.Fatalf("no segment holds the break: %v", segs)
	}
	edited := -1
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"kind":"batch"`)) {
			lines[i] = bytes.Replace(l, []byte(`"status":200`), []byte(`"status":201`), 1)
			edited = i
			break
		}
	}
	if edited < 0 || bytes.Equal(bytes.Join(lines, nil), bytes.Join(segLines(t, dir, seg), nil)) {
		t.Fatalf("segment %d: no batch edited", seg)
	}
	writeSeg(t, dir, seg, lines)

	rep, err = Verify(dir, pubOf(key))
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(rep, seg, ProblemDigestMismatch) {
		t.Fatalf("problems %v; want a digest mismatch of segment %d", rep.Problems, seg)
	}
	if rep.Breaks != 1 || rep.Batches != 5 || rep.Unverified != 1 {
		t.Errorf("after one batch of segment %d edited: %d breaks, %d batches, %d unverified; want 1, 5, 1 (the edited batch once, the signed break and the real batches counted)\n%v",
			seg, rep.Breaks, rep.Batches, rep.Unverified, rep.Problems)
	}
}
