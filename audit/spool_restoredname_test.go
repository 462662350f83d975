//go:build linux

package audit_test

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	. "github.com/portcullis/portcullis/audit"
)

// TestSpoolRestoredBatchCountsItsRecordsNotItsName: the spool directory
// goes while the collector is down with 200 records in several batches,
// counted dropped. Only the first batch is put back, under its own
// sequence but renamed to say it holds all 200 records (the name is
// <seq>-<records>.otlp, and nothing checks it against the batch). The
// collector stores the batch's real records, and Restored counted the
// name's 200: DroppedSpool - Restored, "lost for good", read 0 though
// every other batch was lost.
func TestSpoolRestoredBatchCountsItsRecordsNotItsName(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	parent := t.TempDir()
	spool, backup := filepath.Join(parent, "spool"), filepath.Join(parent, "backup")
	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, e, 200)
	WaitFor(t, "200 records spooled", func() bool { return e.Stats().SpoolRecords == 200 })
	ents, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ent := range ents {
		if strings.HasSuffix(ent.Name(), ".otlp") {
			names = append(names, ent.Name())
		}
	}
	sort.Strings(names)
	if len(names) < 2 {
		t.Fatalf("spooled %v, want at least two batches", names)
	}
	first, err := os.ReadFile(filepath.Join(spool, names[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(backup, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 1)
	WaitFor(t, "the next record spooled", func() bool { return e.Stats().Spooled == 201 })
	if st := e.Stats(); st.DroppedSpool != 200 {
		t.Fatalf("after the deletion: %d records dropped, want 200 (%+v)", st.DroppedSpool, st)
	}
	seq, rest, _ := strings.Cut(names[0], "-")
	held, err := strconv.Atoi(strings.TrimSuffix(rest, ".otlp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, seq+"-200.otlp"), first, 0o600); err != nil {
		t.Fatal(err)
	}

	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	// The batch put back is taken once the spool is empty (adoptNew), so
	// an empty spool alone is no sign it was replayed.
	WaitFor(t, "the batch put back and the next record stored", func() bool { return len(storedRecords(t, data)) == held+1 })
	WaitFor(t, "the spool emptied", func() bool { return e.Stats().SpoolFiles == 0 })
	stored := len(storedRecords(t, data))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	put := stored - 1 // the record spooled after the deletion
	if st.Restored != uint64(put) || st.DroppedSpool-st.Restored != uint64(200-put) {
		t.Errorf("one batch of %d records put back under a name saying 200: %d restored, %d dropped, so %d lost for good; want %d restored, %d lost for good (%+v)",
			put, st.Restored, st.DroppedSpool, st.DroppedSpool-st.Restored, put, 200-put, st)
	}
}
