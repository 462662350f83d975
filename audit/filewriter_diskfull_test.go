//go:build linux

package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tmpfs"
)

// fileRecordIDs reads the JSON-lines audit file at path: the request ids
// of its records, failing the test on a line that is not one record.
func fileRecordIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var rec struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d of the audit file is not a record (torn by a full disk?): %v: %.80q", n, err, sc.Bytes())
		}
		ids[rec.RequestID]++
	}
	return ids
}

// fullDiskWriter mounts a small tmpfs with a FileWriter on it and fills
// the disk but for room, so that the next writes land partly.
func fullDiskWriter(t *testing.T, room int64) (w *FileWriter, path, filler string) {
	dir := tmpfs.Mount(t, 256<<10)
	path = filepath.Join(dir, "audit.jsonl")
	w, err := NewFileWriter(path, FileConfig{Slots: 1024})
	if err != nil {
		t.Fatal(err)
	}
	filler = tmpfs.Fill(t, dir)
	info, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, info.Size()-room); err != nil {
		t.Fatal(err)
	}
	return w, path, filler
}

// emitIDs emits n records with request ids prefix-0 .. prefix-(n-1) and
// returns the ids the writer accepted.
func emitIDs(w *FileWriter, prefix string, n int) []string {
	var ids []string
	for i := range n {
		r := sampleRecord(i)
		id := fmt.Sprintf("%s-%d", prefix, i)
		r.SetRequestID([]byte(id))
		if w.Emit(&r) {
			ids = append(ids, id)
		}
	}
	return ids
}

// A disk that fills up under the JSON-lines writer and is freed again:
// before, a write that landed partly left a torn line that the next
// write continued (two records unreadable), and the records of a failed
// write were gone, counted in no metric and logged nowhere. Now the torn
// part is cut, the records not written wait in memory (the ring fills
// and Emit refuses, counted) and are written once there is room: every
// accepted record is in the file once, every line is one record.
func TestFileWriterDiskFullKeepsRecords(t *testing.T) {
	t.Parallel()
	w, path, filler := fullDiskWriter(t, 8192)
	accepted := emitIDs(w, "full", 200) // ~90 KB of JSON for 8 KiB of room
	waitFor(t, "a failed write", func() bool { return w.Stats().WriteErrors > 0 })
	if w.Accepting() {
		t.Error("Accepting true while the audit file cannot be written")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	accepted = append(accepted, emitIDs(w, "after", 10)...)
	if err := w.Close(); err != nil {
		t.Errorf("Close = %v, want nil: every record was written once there was room", err)
	}
	got := fileRecordIDs(t, path)
	for _, id := range accepted {
		if got[id] != 1 {
			t.Errorf("accepted record %s is in the file %d times, want once", id, got[id])
		}
	}
	st := w.Stats()
	if st.Written != uint64(len(accepted)) || st.Lost != 0 || len(got) != len(accepted) {
		t.Errorf("stats %+v, file holds %d records, %d accepted", st, len(got), len(accepted))
	}
}

// A disk still full at Close: the records that could not be written are
// counted lost (Stats.Lost, /metrics), Close says so, and the file holds
// only whole records.
func TestFileWriterDiskFullAtCloseCountsLost(t *testing.T) {
	t.Parallel()
	w, path, _ := fullDiskWriter(t, 8192)
	accepted := emitIDs(w, "full", 200)
	waitFor(t, "a failed write", func() bool { return w.Stats().WriteErrors > 0 })
	if err := w.Close(); err == nil {
		t.Error("Close returned nil with records it could not write")
	}
	got := fileRecordIDs(t, path)
	st := w.Stats()
	if st.Lost == 0 || st.Written+st.Lost != uint64(len(accepted)) || st.Written != uint64(len(got)) {
		t.Errorf("stats %+v, file holds %d records, %d accepted: every accepted record must be written or counted lost", st, len(got), len(accepted))
	}
}

// Close with the disk still full and every slot taken: the drain cannot
// write, so the ring could never be sealed and Close spun for ever. Now
// Close counts what it cannot write lost and returns.
func TestFileWriterDiskFullCloseWithFullRing(t *testing.T) {
	t.Parallel()
	dir := tmpfs.Mount(t, 256<<10)
	path := filepath.Join(dir, "audit.jsonl")
	w, err := NewFileWriter(path, FileConfig{Slots: 64})
	if err != nil {
		t.Fatal(err)
	}
	tmpfs.Fill(t, dir)
	accepted := len(emitIDs(w, "full", 64))
	waitFor(t, "a failed write", func() bool { return w.Stats().WriteErrors > 0 })
	accepted += len(emitIDs(w, "more", 200)) // the ring fills: the writer drains nothing
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err == nil {
			t.Error("Close returned nil with records it could not write")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return with the disk full and the ring full")
	}
	if st := w.Stats(); st.Written+st.Lost != uint64(accepted) || st.Lost == 0 {
		t.Errorf("stats %+v, %d accepted: every accepted record must be written or counted lost", st, accepted)
	}
	fileRecordIDs(t, path)
}
