//go:build linux

package collector

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tmpfs"
)

// TestRetentionEntryFailedOnFullDiskWrittenLater: on a disk with no room
// for a retention entry, retention deletes the segment first and writes
// its entry into the room it leaves; when that room is not enough (a
// segment of one page, the entry's rotation needing more), the append
// fails and the segment is gone with no entry. Once space is freed the
// next pass must write the entry, or verify reports the deletion
// unaccounted for ever, and the start takes it only while it is due under
// the retention then in force.
func TestRetentionEntryFailedOnFullDiskWrittenLater(t *testing.T) {
	t.Parallel()
	dir := tmpfs.Mount(t, 256<<10)
	key := newTestKey(t)
	now := time.Now().Add(-3 * time.Hour)
	cfg := StoreConfig{SegmentMaxBytes: 1500, Retention: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 1)
	defer st.Close()
	if err := st.Rotate(); err != nil {
		t.Fatal(err)
	}
	now = now.Add(90 * time.Minute) // segment 1 alone is due at the pass
	appendBatches(t, st, 1, 10)
	filler := tmpfs.Fill(t, dir)
	var full error
	for i := 100; full == nil && i < 10000; i++ {
		a := sampleRecord(i)
		full = st.AppendBatch(&Batch{ID: "fill-" + itoa(i), Records: []StoredRecord{Stored(&a)}})
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("the disk never filled: %v", full)
	}
	now = now.Add(30 * time.Minute)
	err := st.Maintain(now) // segment 1 deleted, its entry refused
	if _, lerr := os.Lstat(filepath.Join(dir, segName(1))); !os.IsNotExist(lerr) {
		t.Fatalf("segment 1 not deleted on the full disk (%v): the test makes no failed entry", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if err := st.Maintain(now); err != nil {
		t.Fatalf("retention with room again: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, _ := Verify(dir, key.Public().(ed25519.PublicKey))
	wantProblems(t, rep)
	// And a restart with retention lengthened starts.
	cfg.Retention = 100 * time.Hour
	st = openTestStore(t, dir, key, cfg, 200, 1)
	st.Close()
}
