//go:build linux

package audit_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// Files planted in (or left corrupted in) the sidecar's spool directory,
// named like spooled batches, in front of the real ones: a FIFO, a
// symlink to a file outside the spool and a huge sparse file. Before, the
// replay opened the FIFO and blocked for good (nothing was delivered
// again, and Close, so SIGTERM, never returned), followed the link (its
// target was posted to the collector under the sidecar's credentials) and
// read the sparse file whole into memory. Now each is refused, dropped and
// counted as an unreadable batch, the failure is logged, and the records
// behind them reach a real collector store on disk.
func TestSpoolPlantedFilesSkipped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startCollector(t, dir, newTestKey(t), collector.StoreConfig{})
	spool := t.TempDir()

	// A real spooled batch from an earlier run, to sit behind the planted ones.
	down := newSink(t)
	down.down.Store(true)
	cfg := FastConfig(down.srv.URL, spool)
	earlier, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, earlier, 10)
	earlier.Close()
	if st := earlier.Stats(); st.Spooled != 10 {
		t.Fatalf("earlier run: %+v, want 10 records spooled", st)
	}

	if err := syscall.Mkfifo(filepath.Join(spool, "00000000000000000000-7.otlp"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("not a batch"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(spool, "00000000000000000000-8.otlp")); err != nil {
		t.Fatal(err)
	}
	sparse, err := os.Create(filepath.Join(spool, "00000000000000000000-9.otlp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(1 << 40); err != nil { // 1 TiB, no blocks
		t.Fatal(err)
	}
	sparse.Close()

	cfg = FastConfig(srv.URL, spool)
	cfg.Token = testToken
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 5)
	WaitFor(t, "the spooled and new records stored", func() bool { return len(storedRecords(t, dir)) == 15 })
	e.Close()
	st := e.Stats()
	// The 5 new records go straight to the collector, or, when they come
	// while the replay still has batches to send, queue behind them in the
	// spool (order kept) and are replayed with them.
	if st.DroppedSpool != 7+8+9 || st.Delivered+st.Spooled != 5 || st.Replayed != 10+st.Spooled || st.SpoolFiles != 0 {
		t.Errorf("stats %+v: want the 24 records the planted names claim dropped, the 10 earlier and any spooled new ones replayed, an empty spool", st)
	}
	if h := e.Health(); h.LastFailure == "" {
		t.Error("the unreadable spool files were not reported")
	}
}

// Two sidecars given one spool directory (a shared host path, a copied
// manifest) named their batches by the same sequence numbers: one's batch
// was renamed over the other's, records lost with nothing counted. The
// spool is now locked by the process that uses it: a second emitter on it
// does not start, saying why, and starts once the first closed.
func TestSpoolDirectoryUsedOnce(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	spool := t.TempDir()
	first, err := NewEmitter(FastConfig(s.srv.URL, spool))
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewEmitter(FastConfig(s.srv.URL, spool))
	if err == nil {
		second.Close()
		first.Close()
		t.Fatal("a second emitter started on a spool directory in use")
	}
	if !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), spool) {
		t.Errorf("error %q does not say the spool directory is in use", err)
	}
	first.Close()
	again, err := NewEmitter(FastConfig(s.srv.URL, spool))
	if err != nil {
		t.Fatalf("the spool directory stayed locked after Close: %v", err)
	}
	again.Close()
}
