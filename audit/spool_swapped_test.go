//go:build linux

package audit

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// restoreSpool does what an operator restoring the spool does: copies its
// batches out, deletes the directory, makes it again (0700) and copies
// them back under their names.
func restoreSpool(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	saved := map[string][]byte{}
	for _, ent := range ents {
		if _, ok := parseSpoolName(ent.Name()); ok {
			if saved[ent.Name()], err = os.ReadFile(filepath.Join(dir, ent.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range saved {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A write that failed in the deleted directory asked whether the
// directory was deleted only after the sender's replay, finding it gone
// too, had made it again: the spool's directory was then a live one, the
// write was not tried again in it, and its batch was dropped, counted
// (TestSpoolRestoredDirectoryReplayed failed now and then: DroppedSpool
// 64, 536 of the 600 records stored). The sender's remake waits for the
// write's read lock and, a writer waiting, runs before the spooler's
// check takes it again; the hook (deletedHook) puts it there every time.
func TestSpoolWriteRetriedInDirectoryMadeAgainMeanwhile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	put := func(seq uint64) error {
		t.Helper()
		data := []byte("batch " + strconv.FormatUint(seq, 10))
		if err := s.reserve(seq, len(data)); err != nil {
			t.Fatal(err)
		}
		ws := []spoolWrite{{f: spoolFile{name: spoolName(seq, 64), seq: seq, records: 64, size: int64(len(data)), ours: true}, data: data}}
		s.write(ws)
		return ws[0].err
	}
	if err := put(1); err != nil {
		t.Fatal(err)
	}
	restoreSpool(t, dir)
	hook := func(s *spool) {
		s.deletedHook.Store(nil) // once; this goroutine only
		if err := s.remake(); err != nil {
			t.Errorf("the other goroutine's remake: %v", err)
		}
	}
	s.deletedHook.Store(&hook)
	if err := put(2); err != nil {
		t.Fatalf("a batch written as the directory was made again: %v; want it written in the new directory", err)
	}
	if files, records, _ := s.usage(); files != 2 || records != 128 {
		t.Errorf("spool holds %d batches of %d records, want the restored one and the new one, 128 records", files, records)
	}
}

// The replay read a batch in the deleted directory, failed, and asked
// whether the directory was deleted only after the spooler, failing to
// write there, had made it again with the batch restored in it: the
// answer was no, the batch was taken for unreadable, and the restored
// copy, the only one, was removed and its records counted dropped. The
// hook holds the sender's question until the operator's restore is done
// and makes the directory again first, as the spooler would.
func TestReplayKeepsBatchRestoredWhileItsReadFailed(t *testing.T) {
	t.Parallel()
	restored := make(chan struct{})
	var once sync.Once
	var remade atomic.Bool
	hook := func(s *spool) {
		once.Do(func() {
			<-restored
			if err := s.remake(); err != nil {
				t.Errorf("the spooler's remake: %v", err)
			}
			remade.Store(true)
		})
	}
	dir := filepath.Join(t.TempDir(), "spool")
	e, err := NewEmitter(fastConfig(deadCollector(t), dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.sp.deletedHook.Store(&hook) // before any record: nothing failed yet
	emitN(t, e, 64)
	waitFor(t, "64 records spooled", func() bool { return e.Stats().SpoolRecords == 64 })
	restoreSpool(t, dir)
	close(restored)
	waitFor(t, "a replay read failing in the deleted directory, made again meanwhile", remade.Load)
	tries := e.Stats().Retries
	waitFor(t, "two more replay attempts, or the spool emptied", func() bool {
		st := e.Stats()
		return st.Retries > tries+1 || st.SpoolRecords == 0
	})
	if st := e.Stats(); st.SpoolRecords != 64 || st.DroppedSpool != 0 {
		t.Errorf("after the restore: %d records spooled, %d dropped; want the restored batch's 64 spooled, none dropped", st.SpoolRecords, st.DroppedSpool)
	}
	if _, err := os.Stat(filepath.Join(dir, spoolName(1, 64))); err != nil {
		t.Errorf("the restored batch: %v", err)
	}
}
