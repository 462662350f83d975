//go:build linux

package audit_test

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// TestSpoolBatchLostThenRestoredAfterRestartCountedOnce: batches lost
// with a deleted spool directory (counted dropped) and put back by an
// operator after the sidecar restarted were counted replayed by the next
// run, so over the two runs the replayed and the dropped were more than
// the records spooled: 500 replayed, 200 dropped, 500 spooled. The spool
// keeps the sequences it counted lost in the directory (.lost), and the
// next run counts them restored.
func TestSpoolBatchLostThenRestoredAfterRestartCountedOnce(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	first := spoolingToNothing(t, addr, spool, &logs)
	backup := loseSpool(t, first, spool, 200, 300)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	copyBatches(t, backup, spool) // the operator puts them back, the sidecar down

	second := spoolingToNothing(t, addr, spool, &logs)
	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 300 spooled and 200 restored records stored", func() bool { return len(storedRecords(t, data)) == 500 })
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	one, two := first.Stats(), second.Stats()
	if two.Replayed != 300 || two.Restored != 200 {
		t.Errorf("the run after the restart: %d replayed, %d restored; want 300 replayed, the 200 put back restored (%+v)", two.Replayed, two.Restored, two)
	}
	if replayed, dropped := one.Replayed+two.Replayed, one.DroppedSpool+two.DroppedSpool; replayed+dropped != one.Spooled+two.Spooled {
		t.Errorf("over both runs: replayed %d + dropped %d = %d, want the %d records spooled", replayed, dropped, replayed+dropped, one.Spooled+two.Spooled)
	}
	rep, err := collector.Verify(data, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() {
		t.Fatalf("verify the collector's store: %v, %+v", err, rep)
	}
}
