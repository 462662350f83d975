package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
)

// A crash mid-append leaves half an entry at the end of the open segment,
// never acknowledged. The next start cuts it off (through the segment it
// opened, never by name) and appends after the last whole entry; the
// trail verifies with every acknowledged batch.
func TestRestartCutsTornEntry(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 3)
	st.seg.Close() // the crash, as the segment is being appended to
	seg := filepath.Join(dir, segName(st.segNum))
	whole, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":4,"prev":"ab`) // the half-written entry
	f.Close()

	st = openTestStore(t, dir, key, StoreConfig{}, 3, 2)
	st.Close()
	if fi, err := os.Stat(seg); err != nil || fi.Size() <= whole.Size() {
		t.Fatalf("segment after the restart: %v, %v bytes, want more than the %d before the torn entry", err, fi.Size(), whole.Size())
	}
	rep, err := Verify(dir, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep)
	if rep.Batches != 5 {
		t.Errorf("batches = %d, want 5", rep.Batches)
	}
}
