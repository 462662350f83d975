//go:build linux

package audit_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// A local user who can write the spool directory (a group-writable host
// path, a shared volume) planted a well-formed batch there, named to
// replay first: the sidecar sent it with its own credentials, and the
// collector stored and signed its records as the sidecar's (any tenant,
// client or decision the planter liked). A spooled batch is now replayed
// only from a file owned by the sidecar's own user, as every batch it
// spools is; another's is dropped and counted as unreadable.
func TestSpoolBatchOfAnotherUserNotSent(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to plant a file owned by another user")
	}
	dir := t.TempDir()
	srv, _ := startCollector(t, dir, newTestKey(t), collector.StoreConfig{})
	spool := t.TempDir()

	// The planter's batch: records as a sidecar encodes them, spooled by
	// an emitter of its own, then copied into the sidecar's spool.
	down := newSink(t)
	down.down.Store(true)
	theirs := t.TempDir()
	cfg := FastConfig(down.srv.URL, theirs)
	cfg.InstanceID = "planted"
	planter, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, planter, 7)
	planter.Close()
	files, _ := filepath.Glob(filepath.Join(theirs, "*.otlp"))
	if len(files) != 1 {
		t.Fatalf("planter spooled %d files, want 1", len(files))
	}
	batch, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(spool, "00000000000000000000-7.otlp")
	if err := os.WriteFile(planted, batch, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(planted, 4242, 4242); err != nil {
		t.Fatal(err)
	}

	cfg = FastConfig(srv.URL, spool)
	cfg.Token = testToken
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 5)
	WaitFor(t, "the new records stored and the spool empty", func() bool {
		return len(storedRecords(t, dir)) >= 5 && e.Stats().SpoolFiles == 0
	})
	e.Close()
	if got := len(storedRecords(t, dir)); got != 5 {
		t.Errorf("%d records stored, want the sidecar's 5 and none of the 7 another user planted in its spool", got)
	}
	if st := e.Stats(); st.DroppedSpool != 7 || st.Replayed != 0 {
		t.Errorf("stats %+v: want the planted batch's 7 records dropped as unreadable, none replayed", st)
	}
}
