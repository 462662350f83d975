//go:build linux

package audit_test

import (
	"crypto/ed25519"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/freeport"
	"github.com/rs/zerolog"
)

// closedAddr returns a loopback address nothing listens on (yet).
func closedAddr(t *testing.T) string {
	t.Helper()
	return freeport.Addr(t)
}

// collectorOn serves a real Collector storing in dir on addr, once addr
// can be listened on.
func collectorOn(t *testing.T, addr, dir string, key ed25519.PrivateKey) {
	t.Helper()
	t.Cleanup(collectorUntil(t, addr, dir, key))
}

// collectorUntil is collectorOn returning what stops the collector (its
// server and store closed), to restart it on the same store.
func collectorUntil(t *testing.T, addr, dir string, key ed25519.PrivateKey) (stop func()) {
	t.Helper()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	WaitFor(t, "the collector's address", func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	srv := httptest.NewUnstartedServer(col)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	var once sync.Once
	return func() { once.Do(func() { srv.Close(); st.Close() }) }
}

// spoolingToNothing starts an emitter whose collector (addr) is down, its
// spool at spool, logging into logs.
func spoolingToNothing(t *testing.T, addr, spool string, logs *logBuffer) *Emitter {
	t.Helper()
	return spoolingToNothingCfg(t, addr, spool, logs, func(*EmitterConfig) {})
}

// spoolingToNothingCfg is spoolingToNothing with the configuration
// changed by set.
func spoolingToNothingCfg(t *testing.T, addr, spool string, logs *logBuffer, set func(*EmitterConfig)) *Emitter {
	t.Helper()
	log := zerolog.New(logs)
	cfg := FastConfig("http://"+addr, spool)
	cfg.Token, cfg.LogInterval, cfg.Log = testToken, time.Hour, &log
	set(&cfg)
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// A spool directory deleted while the collector is down (an operator
// cleaning up, a volume wiped) was not made again until a restart: every
// batch after it was dropped, counted and logged. Now the spool makes it
// again, 0700 as at start, logs that once with the records that went with
// it (counted dropped), and the batches spooled after it reach a real
// collector once it is back, its chain intact.
func TestSpoolDirectoryDeletedIsMadeAgain(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, e, 200)
	WaitFor(t, "200 records spooled", func() bool { return e.Stats().SpoolRecords == 200 })

	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 300)
	WaitFor(t, "the next 300 records spooled", func() bool { return e.Stats().Spooled == 500 })
	st := e.Stats()
	if st.SpoolRecords != 300 || st.DroppedSpool != 200 {
		t.Errorf("after the deletion: %d records in the spool and %d dropped, want 300 and the 200 that went with it (%+v)", st.SpoolRecords, st.DroppedSpool, st)
	}
	fi, err := os.Lstat(spool)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool directory after the deletion: %v, %v; want a directory of mode 0700", fi, err)
	}
	if ents, _ := os.ReadDir(spool); len(ents) < 2 { // .lock and the batches
		t.Errorf("the spool directory made again holds %d files, want the lock and the new batches", len(ents))
	}
	// The replay may find a batch gone before the directory is (RemoveAll
	// deletes the files first): it counts it unreadable, and the line the
	// rest; each record is counted once.
	lines := logs.entries(t, "message", "audit spool directory was deleted: made it again (mode 0700); the batches spooled in it are lost, counted in portcullis_audit_records_total{outcome=\"dropped\"}")
	if len(lines) != 1 || lines[0]["records_lost"].(float64) > 200 || lines[0]["spool"] != spool {
		t.Errorf("log lines saying the spool was made again: %v, want one naming it and the records lost:\n%s", lines, logs.String())
	}

	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 300 spooled records stored", func() bool { return len(storedRecords(t, data)) == 300 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Replayed != 300 || st.SpoolFiles != 0 {
		t.Errorf("after the collector came back: %+v, want the 300 replayed and the spool empty", st)
	}
	rep, err := collector.Verify(data, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() {
		t.Fatalf("verify the collector's store: %v, %+v", err, rep)
	}
}

// Whoever can write the spool directory's parent can rename the directory
// away and put a symbolic link at its name. The spool wrote through the
// path, so its batches went where the link pointed, another user's
// directory. Now it writes into the directory it opened, wherever it was
// moved, and a directory deleted and replaced by a link is not made again
// through it nor used: the batches are dropped, counted and logged, until
// the link is gone and the spool can make its directory again.
func TestSpoolDirectoryReplacedByLinkNotFollowed(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	parent := t.TempDir()
	spool, elsewhere := filepath.Join(parent, "spool"), filepath.Join(parent, "elsewhere")
	theirs := t.TempDir() // where the planted link points
	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, e, 100)
	WaitFor(t, "100 records spooled", func() bool { return e.Stats().SpoolRecords == 100 })

	// Renamed away, a link in its place: the batches go on into the
	// directory the spool opened.
	if err := os.Rename(spool, elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(theirs, spool); err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 100)
	WaitFor(t, "200 records spooled", func() bool { return e.Stats().Spooled == 200 })
	if ents, _ := os.ReadDir(theirs); len(ents) != 0 {
		t.Fatalf("the spool wrote %d files through the link planted at its name", len(ents))
	}

	// Deleted, a link in its place: not followed, not made again.
	if err := os.RemoveAll(elsewhere); err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 100)
	WaitFor(t, "the records dropped", func() bool { return e.Stats().DroppedSpool >= 100 })
	if ents, _ := os.ReadDir(theirs); len(ents) != 0 {
		t.Fatalf("the spool wrote %d files through the link planted at its name", len(ents))
	}
	// Health holds the last failure: a replay of a batch whose file went
	// with elsewhere may have come after the refusal (a loaded machine
	// saw "cannot read" there), so a record more is spooled, refused
	// again, until Health says so.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(e.Health().LastFailure, "symbolic link is in its place: not followed"); {
		if time.Now().After(deadline) {
			t.Fatalf("Health %q does not say the link was refused", e.Health().LastFailure)
		}
		EmitN(t, e, 1)
		time.Sleep(10 * time.Millisecond)
	}

	// The link removed, the directory is made again.
	if err := os.Remove(spool); err != nil {
		t.Fatal(err)
	}
	before := e.Stats().Spooled
	EmitN(t, e, 100)
	WaitFor(t, "records spooled again", func() bool { return e.Stats().Spooled >= before+100 })
	if fi, err := os.Lstat(spool); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool after the link was removed: %v, %v; want a directory of mode 0700", fi, err)
	}
}

// Records dropped (slots full, spool full) were counted and alerted on but
// never logged. Now a warn line says how many, the first at once, then at
// most one an interval (an hour here) with the count since the line
// before, and Close says what the last interval left: the lines add up
// to the counters.
func TestEmitterLogsDroppedRecords(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	log := zerolog.New(&logs)
	cfg := FastConfig("http://"+closedAddr(t), t.TempDir())
	cfg.SpoolMaxBytes, cfg.DropLogInterval, cfg.Log = 20<<10, time.Hour, &log
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const msg = "audit records dropped since the last such line"
	dropLines := func() []map[string]any {
		var out []map[string]any
		for _, l := range logs.entries(t, "level", "warn") {
			if m, _ := l["message"].(string); strings.HasPrefix(m, msg) {
				out = append(out, l)
			}
		}
		return out
	}
	EmitN(t, e, 2000)
	WaitFor(t, "a line saying records were dropped", func() bool { return len(dropLines()) > 0 })
	EmitN(t, e, 2000)
	e.Close()
	st := e.Stats()
	lines := dropLines()
	var sum, full, spool float64
	for _, l := range lines {
		sum += l["dropped"].(float64)
		full += l["slots_full"].(float64)
		spool += l["spool"].(float64)
	}
	if st.DroppedSpool == 0 || len(lines) > 2 || sum != float64(st.DroppedFull+st.DroppedSpool) ||
		full != float64(st.DroppedFull) || spool != float64(st.DroppedSpool) {
		t.Errorf("%d drop lines saying %v dropped (%v slots full, %v spool); want at most 2 (the first, and Close's) adding up to %d and %d (%+v):\n%s",
			len(lines), sum, full, spool, st.DroppedFull, st.DroppedSpool, st, logs.String())
	}
}
