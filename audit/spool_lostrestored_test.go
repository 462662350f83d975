//go:build linux

package audit_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// TestSpoolBatchLostThenRestoredCountedOnce: a spool directory deleted
// while the collector is down is made again, and the batches that went
// with it are counted dropped; an operator then puts them back from a
// copy, and they reach a real collector over loopback. They were counted
// replayed as well: 500 records spooled, 500 replayed and 200 dropped.
// Put back, they are counted Restored, not Replayed: the replayed and the
// dropped are the records spooled, and DroppedSpool - Restored were lost
// for good (none here).
func TestSpoolBatchLostThenRestoredCountedOnce(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	parent := t.TempDir()
	spool, backup := filepath.Join(parent, "spool"), filepath.Join(parent, "backup")
	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, e, 200)
	WaitFor(t, "200 records spooled", func() bool { return e.Stats().SpoolRecords == 200 })

	copyBatches := func(from, to string) {
		t.Helper()
		ents, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			if !strings.HasSuffix(ent.Name(), ".otlp") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(from, ent.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(to, ent.Name()), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Mkdir(backup, 0o700); err != nil {
		t.Fatal(err)
	}
	copyBatches(spool, backup)
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 300)
	WaitFor(t, "the next 300 records spooled", func() bool { return e.Stats().Spooled == 500 })
	if st := e.Stats(); st.DroppedSpool != 200 {
		t.Fatalf("after the deletion: %d records dropped, want the 200 that went with the directory (%+v)", st.DroppedSpool, st)
	}
	copyBatches(backup, spool) // the operator puts them back

	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 300 spooled and 200 restored records stored", func() bool { return len(storedRecords(t, data)) == 500 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Replayed != 300 || st.Restored != 200 || st.DroppedSpool != 200 || st.SpoolFiles != 0 {
		t.Errorf("after the collector came back: %d replayed, %d restored, %d dropped, %d batches spooled; want 300 replayed, the 200 put back restored (and dropped when they went), none left (%+v)",
			st.Replayed, st.Restored, st.DroppedSpool, st.SpoolFiles, st)
	}
	if st.Replayed+st.DroppedSpool != st.Spooled {
		t.Errorf("replayed %d + dropped %d = %d, want the %d records spooled", st.Replayed, st.DroppedSpool, st.Replayed+st.DroppedSpool, st.Spooled)
	}
	rep, err := collector.Verify(data, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() {
		t.Fatalf("verify the collector's store: %v, %+v", err, rep)
	}
}
