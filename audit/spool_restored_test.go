//go:build linux

package audit_test

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// A spool directory deleted while the collector was down and restored by
// an operator, with its batches in it, was used for the next batches, but
// the batches restored in it were ignored until a restart (counted lost,
// never replayed). The spool now takes them as it does at start: the
// restored batches are replayed, a symbolic link among them is not
// followed (refused, counted dropped), and a new batch numbered as a
// restored one is written under the next free number, not over it (here
// an earlier run's batches, restored as well, are numbered where the
// emitter's next go).
func TestSpoolRestoredDirectoryReplayed(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	parent := t.TempDir()
	spool, backup, earlier := filepath.Join(parent, "spool"), filepath.Join(parent, "backup"), filepath.Join(parent, "earlier")
	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, e, 200)
	WaitFor(t, "200 records spooled", func() bool { return e.Stats().SpoolRecords == 200 })
	// An earlier run's spool, of another instance: 100 records.
	before := spoolingToNothing(t, addr, earlier, &logBuffer{})
	EmitN(t, before, 100)
	WaitFor(t, "the earlier run's 100 records spooled", func() bool { return before.Stats().SpoolRecords == 100 })
	before.Close()

	// The operator's copy, the deletion and the restore: the batches
	// under their names, and the earlier run's numbered from one past
	// the emitter's last (k), where its next batches go.
	batches := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ent := range ents {
			if strings.HasSuffix(ent.Name(), ".otlp") {
				names = append(names, ent.Name())
			}
		}
		return names
	}
	move := func(from, to string) {
		t.Helper()
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names := batches(spool)
	k := uint64(len(names))
	if err := os.Mkdir(backup, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		move(filepath.Join(spool, n), filepath.Join(backup, n))
	}
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		move(filepath.Join(backup, n), filepath.Join(spool, n))
	}
	for _, n := range batches(earlier) {
		seqText, rest, _ := strings.Cut(n, "-")
		seq, _ := strconv.ParseUint(seqText, 10, 64)
		move(filepath.Join(earlier, n), filepath.Join(spool, fmt.Sprintf("%020d-%s", seq+k, rest)))
	}
	// A link under a batch's name, to a file outside the spool.
	outside := filepath.Join(backup, "outside.otlp")
	if err := os.WriteFile(outside, []byte("not to be sent"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(spool, fmt.Sprintf("%020d-7.otlp", 5000))); err != nil {
		t.Fatal(err)
	}

	EmitN(t, e, 300)
	var last string // the stats when the wait gives up
	defer func() {
		if t.Failed() && last != "" {
			t.Logf("emitter stats last seen: %s; log:\n%s", last, logs.String())
		}
	}()
	WaitFor(t, "the next 300 records spooled", func() bool {
		if st := e.Stats(); st.Spooled != 500 {
			last = fmt.Sprintf("%+v", st)
			return false
		}
		return true
	})
	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the 300 restored and 300 new records stored", func() bool { return len(storedRecords(t, data)) == 600 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// The replay may find a batch gone before the directory is (RemoveAll
	// deletes the files first) and count it unreadable, then find it put
	// back: it is counted restored, not replayed (up to the 200 records
	// dropped and restored).
	if st := e.Stats(); st.Replayed+st.Restored != 600 || st.DroppedSpool-st.Restored != 7 || st.Restored > 200 || st.Rejected != 0 || st.SpoolFiles != 0 {
		t.Errorf("after the collector came back: %+v, want the 600 replayed or restored, the 7 of the planted link dropped for good (its file never sent: none rejected), the spool empty", st)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("the file the planted link named: %v; want it left alone", err)
	}
	rep, err := collector.Verify(data, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() {
		t.Fatalf("verify the collector's store: %v, %+v", err, rep)
	}
}
