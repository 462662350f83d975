//go:build linux

package audit_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
)

// TestHelperSpoolKilled is not a test: run by
// TestSpoolBatchLostThenRestoredAfterKillCountedOnce as a child process
// (the sidecar SIGKILLed). Its collector down, it spools 100 records, an
// "operator" removes the oldest batch (copied to the backup first), the
// replay counts it lost, 50 more records are spooled (none with
// AUDIT_SPOOL_HELPER_NOMORE set), and it says "ready" and waits to be
// killed.
func TestHelperSpoolKilled(t *testing.T) {
	spool, addr, backup := os.Getenv("AUDIT_SPOOL_HELPER_DIR"), os.Getenv("AUDIT_SPOOL_HELPER_ADDR"), os.Getenv("AUDIT_SPOOL_HELPER_BACKUP")
	if spool == "" {
		t.Skip("helper process only")
	}
	if lost := os.Getenv("AUDIT_SPOOL_HELPER_LOST"); lost != "" {
		// The .lost a run before left.
		if err := os.Mkdir(spool, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(spool, ".lost"), []byte(lost), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	EmitN(t, e, 100)
	WaitFor(t, "100 records spooled", func() bool { return e.Stats().SpoolRecords == 100 })
	ents, err := os.ReadDir(spool)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ents, func(e os.DirEntry) bool { return strings.HasSuffix(e.Name(), ".otlp") })
	if i < 0 {
		t.Fatal("no batch spooled")
	}
	copyBatches(t, spool, backup)
	for _, ent := range ents[i+1:] { // the backup keeps the oldest batch only
		os.Remove(filepath.Join(backup, ent.Name()))
	}
	if err := os.Remove(filepath.Join(spool, ents[i].Name())); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "the batch removed counted lost", func() bool { return e.Stats().DroppedSpool > 0 })
	if os.Getenv("AUDIT_SPOOL_HELPER_NOMORE") == "" {
		EmitN(t, e, 50)
		WaitFor(t, "50 more records spooled", func() bool { return e.Stats().Spooled == 150 })
	}
	os.Stdout.WriteString("ready\n")
	time.Sleep(time.Hour)
}

// TestSpoolBatchLostThenRestoredAfterKillCountedOnce: a batch counted
// lost as its file went (found gone at its replay) was written to .lost
// only when the spool directory was made again or the sidecar stopped;
// a sidecar killed (SIGKILL) before it stopped forgot it, and the batch
// put back after the restart was counted replayed as well as dropped.
// Now .lost is written at the next batch spooled after the loss.
func TestSpoolBatchLostThenRestoredAfterKillCountedOnce(t *testing.T) {
	t.Parallel()
	lostThenKilled(t, 150)
}

// TestSpoolBatchLostThenKilledAtOnceCountedOnce: as
// TestSpoolBatchLostThenRestoredAfterKillCountedOnce, but the sidecar is
// killed before it spools any batch after the loss. .lost was written
// only with the next batch spooled, so the loss was forgotten and the
// batch put back counted replayed as well as dropped. Now the loss is
// appended to .lost when it is found.
func TestSpoolBatchLostThenKilledAtOnceCountedOnce(t *testing.T) {
	t.Parallel()
	lostThenKilled(t, 100)
}

// TestSpoolLossAfterTornLineKilledCountedOnce: .lost ends in a torn line
// (a run before stopped with the machine as it appended it). The loss
// this run found was appended after the torn line, the two read as one
// line that is no line of .lost, and the next run, the sidecar killed
// before it spooled again, refused the whole file: every batch counted
// lost was forgotten, and the batch put back counted replayed as well as
// dropped. The start cuts the torn line off before anything is appended.
func TestSpoolLossAfterTornLineKilledCountedOnce(t *testing.T) {
	t.Parallel()
	// A run before lost a batch and one more, the second's line torn (the
	// machine stopped as it was written).
	lostThenKilled(t, 100, "AUDIT_SPOOL_HELPER_LOST=900000 900000 7\n900002 90")
}

// TestSpoolLossAfterRefusedLostFileKilledCountedOnce: a .lost that is
// none of encode's was refused at start (it counts no batch lost), but
// the loss this run found was appended to it, and the next run, the
// sidecar killed before it spooled again, refused it with the file: the
// batch put back counted replayed as well as dropped. The start then
// emptied a file it refused; now it leaves the bad line out and reads
// the rest (TestLostFileBadLineKeepsTheRest).
func TestSpoolLossAfterRefusedLostFileKilledCountedOnce(t *testing.T) {
	t.Parallel()
	lostThenKilled(t, 100, "AUDIT_SPOOL_HELPER_LOST=not a run\n")
}

// lostThenKilled runs TestHelperSpoolKilled (spooling records records in
// all: 100, or 150 when it spools more after the loss), kills it, puts
// the batch it counted lost back, and checks that the next run counts it
// restored and the rest replayed.
func lostThenKilled(t *testing.T, records int, env ...string) {
	addr := closedAddr(t)
	parent := t.TempDir()
	spool, backup := filepath.Join(parent, "spool"), filepath.Join(parent, "backup")
	if err := os.Mkdir(backup, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSpoolKilled$")
	cmd.Env = append(os.Environ(), "AUDIT_SPOOL_HELPER_DIR="+spool, "AUDIT_SPOOL_HELPER_ADDR="+addr, "AUDIT_SPOOL_HELPER_BACKUP="+backup)
	if records == 100 {
		cmd.Env = append(cmd.Env, "AUDIT_SPOOL_HELPER_NOMORE=1")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("the child sidecar said %q (%v), want ready", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	copyBatches(t, backup, spool) // the operator puts the batch back, the sidecar down

	var logs logBuffer
	e := spoolingToNothing(t, addr, spool, &logs)
	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	WaitFor(t, "the records stored", func() bool { return len(storedRecords(t, data)) == records })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Restored == 0 || st.Replayed+st.Restored != uint64(records) {
		t.Errorf("the run after the kill: %d replayed, %d restored; want the batch put back restored, the rest replayed (%+v)", st.Replayed, st.Restored, st)
	}
}
