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

// TestSpoolRestoredBatchCountsAtMostTheLostOnes: the spool directory goes
// while the collector is down, with a batch of 5 records and one of 100,
// counted dropped. The larger batch's body is put back under the smaller
// one's sequence, named for its 100 records. The spool kept the sequences
// counted lost but not their counts, and Restored counted the 100 records
// the body holds, though the batch lost under that sequence held 5: the
// records lost for good (DroppedSpool - Restored) read 5, not 100.
func TestSpoolRestoredBatchCountsAtMostTheLostOnes(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	e := spoolingToNothingCfg(t, addr, spool, &logs, func(cfg *EmitterConfig) { cfg.BatchSize = 100 })
	EmitN(t, e, 5)
	WaitFor(t, "5 records spooled", func() bool { return e.Stats().SpoolRecords == 5 })
	EmitN(t, e, 100)
	WaitFor(t, "105 records spooled", func() bool { return e.Stats().SpoolRecords == 105 })
	bySize := map[int]string{} // records: file name
	ents, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ent := range ents {
		if base, ok := strings.CutSuffix(ent.Name(), ".otlp"); ok {
			_, n, _ := strings.Cut(base, "-")
			k, _ := strconv.Atoi(n)
			bySize[k] = ent.Name()
			names = append(names, ent.Name())
		}
	}
	sort.Strings(names)
	small, big := bySize[5], bySize[100]
	if small == "" || big == "" || names[0] != small {
		t.Fatalf("spooled %v, want a batch of 5 records first and one of 100", names)
	}
	body, err := os.ReadFile(filepath.Join(spool, big))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 1)
	WaitFor(t, "the next record spooled", func() bool { return e.Stats().Spooled == 106 })
	if st := e.Stats(); st.DroppedSpool != 105 {
		t.Fatalf("after the deletion: %d records dropped, want 105 (%+v)", st.DroppedSpool, st)
	}
	seq, _, _ := strings.Cut(small, "-")
	if err := os.WriteFile(filepath.Join(spool, seq+"-100.otlp"), body, 0o600); err != nil {
		t.Fatal(err)
	}

	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	// The batch put back is taken once the spool is empty (adoptNew), so
	// an empty spool alone is no sign it was replayed.
	WaitFor(t, "the batch put back and the next record stored", func() bool { return len(storedRecords(t, data)) == 101 })
	WaitFor(t, "the spool emptied", func() bool { return e.Stats().SpoolFiles == 0 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Restored != 5 || st.DroppedSpool-st.Restored != 100 {
		t.Errorf("100 records put back under the sequence of a lost batch of 5: %d restored, %d lost for good; want 5 restored, 100 lost for good (%+v)",
			st.Restored, st.DroppedSpool-st.Restored, st)
	}
}
