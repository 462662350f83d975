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
	"github.com/portcullis/portcullis/internal/tmpfs"
)

// TestSpoolOnFullDiskDropsCountsAndRecovers: the spool's disk is full (a
// real tmpfs, filled to the last byte) while the collector is down, so the
// spooler's group writes fail with ENOSPC. Best effort drops those records,
// counted and said in a warn line, holds nothing and does not stall; once
// there is room the next records are spooled and reach a real collector
// when it is back, its chain intact. Nothing spooled before is lost.
func TestSpoolOnFullDiskDropsCountsAndRecovers(t *testing.T) {
	t.Parallel()
	fs := tmpfs.Mount(t, 1<<20)
	addr := closedAddr(t)
	spool := filepath.Join(fs, "spool")
	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, e, 100)
	WaitFor(t, "100 records spooled", func() bool { return e.Stats().SpoolRecords == 100 })

	filler := tmpfs.Fill(t, fs)
	EmitN(t, e, 200)
	WaitFor(t, "200 records dropped for want of room", func() bool { return e.Stats().DroppedSpool == 200 })
	if st := e.Stats(); st.SpoolRecords != 100 || st.Spooled != 100 {
		t.Errorf("with the disk full: %+v; want the 100 spooled before kept and nothing more spooled", st)
	}
	WaitFor(t, "a warn line counting the dropped records", func() bool {
		return strings.Contains(logs.String(), "audit records dropped")
	})
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("no log line names the cause (ENOSPC):\n%s", logs.String())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 300)
	WaitFor(t, "the next 300 records spooled", func() bool { return e.Stats().Spooled == 400 })

	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 400 spooled records stored", func() bool { return len(storedRecords(t, data)) == 400 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Captured != 600 || st.Replayed != 400 || st.DroppedSpool != 200 || st.SpoolFiles != 0 {
		t.Errorf("after the collector came back: %+v; want 600 captured, 400 replayed, 200 dropped, the spool empty", st)
	}
	// The warn lines, the last at Close, add up to what was dropped.
	var said float64
	for _, l := range logs.entries(t, "message", "audit records dropped since the last such line: requests were served without their records (slots full: the batcher fell behind; spool: full or not writable); counted in portcullis_audit_records_total{outcome=\"dropped\"} (slots full also in portcullis_audit_dropped_total; spool drops only in the first)") {
		said += l["spool"].(float64)
	}
	if said != 200 {
		t.Errorf("the drop lines count %v records dropped at the spool, want 200:\n%s", said, logs.String())
	}
	rep, err := collector.Verify(data, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() {
		t.Errorf("collector.Verify = %+v, %v; want the chain intact", rep, err)
	}
}
