//go:build linux

package audit_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/portcullis/portcullis/audit"
)

// TestSpoolBatchRestoredTwiceCountedOnce: batches lost with a deleted
// spool directory are put back and counted restored; the sidecar stops,
// and an operator puts back an older copy of .lost (from before the
// restore) and the batches again. The next run counted them restored a
// second time: 400 restored of 200 dropped. A batch counted lost that the
// collector answers as a duplicate, not of an attempt of this run, was
// taken by it already: it is counted neither restored nor replayed.
func TestSpoolBatchRestoredTwiceCountedOnce(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	first := spoolingToNothing(t, addr, spool, &logs)
	backup := loseSpool(t, first, spool, 200, 300)
	oldLost, err := os.ReadFile(filepath.Join(spool, ".lost"))
	if err != nil {
		t.Fatal(err)
	}
	copyBatches(t, backup, spool)
	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 300 spooled and 200 restored records stored", func() bool { return len(storedRecords(t, data)) == 500 })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The sidecar down, the older .lost and the batches put back again.
	if err := os.WriteFile(filepath.Join(spool, ".lost"), oldLost, 0o600); err != nil {
		t.Fatal(err)
	}
	copyBatches(t, backup, spool)
	second := spoolingToNothing(t, addr, spool, &logs)
	WaitFor(t, "the batches put back again settled", func() bool { return second.Stats().SpoolFiles == 0 })
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	one, two := first.Stats(), second.Stats()
	if one.Restored != 200 || two.Restored != 0 || two.Replayed != 0 {
		t.Errorf("restored %d then %d (replayed %d the second run), want the 200 dropped restored once (%+v, %+v)", one.Restored, two.Restored, two.Replayed, one, two)
	}
	if n := len(storedRecords(t, data)); n != 500 {
		t.Errorf("%d records stored, want 500", n)
	}
}
