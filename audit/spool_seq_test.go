//go:build linux

package audit_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// A local user who can write the spool directory planted a file named as
// the batch of the largest sequence number, 18446744073709551615: it was
// never sent (TestSpoolBatchOfAnotherUserNotSent), but it set the next
// sequence, which wrapped to 0. The new batches were replayed before the
// sidecar's own older ones, and the one numbered 1 carried the id of the
// batch the sidecar had spooled as 1, so the collector took it for that
// batch delivered twice and dropped its records. A file of another user no
// longer sets the sequence: every record reaches the store, oldest first.
func TestSpoolPlantedSeqSetsNoSequence(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to plant a file owned by another user")
	}
	dir := t.TempDir()
	srv, _ := startCollector(t, dir, newTestKey(t), collector.StoreConfig{})
	spool := t.TempDir()

	// The sidecar's own batch from an earlier run, spooled while the
	// collector was down: batch 1.
	down := newSink(t)
	down.down.Store(true)
	earlier, err := NewEmitter(FastConfig(down.srv.URL, spool))
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, earlier, 10)
	earlier.Close()
	if st := earlier.Stats(); st.Spooled != 10 {
		t.Fatalf("earlier run: %+v, want 10 records spooled", st)
	}
	planted := filepath.Join(spool, "18446744073709551615-3.otlp")
	if err := os.WriteFile(planted, []byte("not a batch"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(planted, 4242, 4242); err != nil {
		t.Fatal(err)
	}

	cfg := FastConfig(srv.URL, spool)
	cfg.Token = testToken
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 200) // several batches, behind the spooled one
	WaitFor(t, "the spool empty", func() bool { return e.Stats().SpoolFiles == 0 })
	e.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 210 {
		t.Errorf("%d records stored, want the 10 spooled earlier and the 200 new: batches numbered from a wrapped sequence collided with the spooled one", len(recs))
	}
	if st := e.Stats(); st.DroppedSpool != 3 {
		t.Errorf("stats %+v: want the planted file's 3 records dropped as unreadable", st)
	}
}
