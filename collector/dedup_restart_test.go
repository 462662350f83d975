package collector

import (
	"io"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestEmitterWithFixedInstanceRestarted: an emitter given an InstanceID
// (EmitterConfig) numbers its batches from one past the highest in its
// spool, from 1 when its spool is empty; its batch ids were the instance
// id and that number, so after a restart with every batch delivered it
// sent "<instance>-1" again, which the collector's deduplication took for
// the batch of that id stored before: answered as a duplicate, not
// stored, the records lost without a word. Each run of an emitter now
// names its batches apart, so both runs' records are stored.
func TestEmitterWithFixedInstanceRestarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := boundCollector(t, dir, io.Discard)
	spool := t.TempDir()
	for run := range 2 {
		cfg := fastConfig(srv.URL, spool)
		cfg.Token, cfg.BatchSize = acmeToken, 1
		e, err := audit.NewEmitter(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := tenantRecord(run, "acme")
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if s := e.Stats(); s.Delivered+s.Replayed != 1 || s.SpoolFiles != 0 {
			t.Fatalf("run %d: emitter stats %+v, want its one batch delivered and nothing spooled", run, s)
		}
	}
	if n := len(storedRecords(t, dir)); n != 2 {
		t.Errorf("stored %d records, want 2 (one a run)", n)
	}
}
