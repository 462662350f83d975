//go:build linux

package audit_test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	. "github.com/portcullis/portcullis/audit"
)

// TestSpoolBatchRestoredTwiceAnswerLostCountedOnce: as
// TestSpoolBatchRestoredTwiceCountedOnce, but the collector's answer to
// the first replay of the second run (a duplicate: the batch was restored
// by the first run) is lost, and fasthttp sends it again. That sending
// (poster.resent) was taken for one whose first sending stored the
// batch, and the batch counted restored a second time. The collector now
// says which request stored it (HeaderStoredBy): one before this replay.
func TestSpoolBatchRestoredTwiceAnswerLostCountedOnce(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	var drops atomic.Int64
	link := answerLostLink(t, addr, &drops)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	first := spoolingToNothing(t, link, spool, &logs)
	backup := loseSpool(t, first, spool, 200, 300)
	oldLost, err := os.ReadFile(filepath.Join(spool, ".lost"))
	if err != nil {
		t.Fatal(err)
	}
	copyBatches(t, backup, spool)
	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 300 spooled and 200 restored records stored", func() bool { return len(storedRecords(t, data)) == 500 })
	WaitFor(t, "the first run's spool emptied", func() bool { return first.Stats().SpoolFiles == 0 })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The sidecar down, the older .lost and the batches put back again;
	// the answer to the next run's first post is lost.
	if err := os.WriteFile(filepath.Join(spool, ".lost"), oldLost, 0o600); err != nil {
		t.Fatal(err)
	}
	copyBatches(t, backup, spool)
	drops.Store(1)
	second := spoolingToNothing(t, link, spool, &logs)
	WaitFor(t, "the batches put back again settled", func() bool { return second.Stats().SpoolFiles == 0 })
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	one, two := first.Stats(), second.Stats()
	if drops.Load() >= 0 || one.Restored != 200 || two.Restored != 0 || two.Replayed != 0 {
		t.Errorf("%d answers left to lose; restored %d then %d (replayed %d the second run), want an answer lost and the 200 dropped restored once (%+v, %+v)",
			max(drops.Load(), 0), one.Restored, two.Restored, two.Replayed, one, two)
	}
	if n := len(storedRecords(t, data)); n != 500 {
		t.Errorf("%d records stored, want 500", n)
	}
}

// TestSpoolBatchPutBackAfterReplayCountedOnce: batches spooled while the
// collector is down (never lost) are replayed once it is up and counted
// replayed; the sidecar stops, and an operator copies them back into the
// spool (from a backup taken before). The next run replayed them again,
// answered duplicates, and counted them replayed a second time: 200
// replayed over the two runs for 100 spooled.
func TestSpoolBatchPutBackAfterReplayCountedOnce(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	parent := t.TempDir()
	spool, backup := filepath.Join(parent, "spool"), filepath.Join(parent, "backup")
	var logs logBuffer
	first := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, first, 100)
	WaitFor(t, "100 records spooled", func() bool { return first.Stats().SpoolRecords == 100 })
	if err := os.Mkdir(backup, 0o700); err != nil {
		t.Fatal(err)
	}
	copyBatches(t, spool, backup)
	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 100 records replayed", func() bool { st := first.Stats(); return st.Replayed == 100 && st.SpoolFiles == 0 })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	copyBatches(t, backup, spool) // the sidecar down
	second := spoolingToNothing(t, addr, spool, &logs)
	WaitFor(t, "the batches put back settled", func() bool { return second.Stats().SpoolFiles == 0 })
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if one, two := first.Stats(), second.Stats(); one.Replayed != 100 || two.Replayed != 0 || two.Restored != 0 {
		t.Errorf("replayed %d then %d (restored %d); want the 100 spooled replayed once (%+v, %+v)", one.Replayed, two.Replayed, two.Restored, one, two)
	}
	if n := len(storedRecords(t, data)); n != 100 {
		t.Errorf("%d records stored, want 100", n)
	}
}
