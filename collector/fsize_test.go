//go:build linux

package collector

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestProbeHoldsTheFileSizeLimit: under a file size limit (RLIMIT_FSIZE,
// ulimit -f) the open segment stops growing, each append failing with
// EFBIG, while a new file of the append's size still fits it. Probe made
// such a file, so /readyz said "ready, store: ok, storing" a second after
// the collector logged that it would fail, and every batch failed again
// (found with a real collector under ulimit -f 1024). Probe now checks
// the open segment's room under the limit too. The limit is set in a
// child process, as it is the whole process's.
func TestProbeHoldsTheFileSizeLimit(t *testing.T) {
	if dir := os.Getenv("AUDIT_FSIZE_DIR"); dir != "" {
		fsizeChild(t, dir)
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeHoldsTheFileSizeLimit$", "-test.v")
	cmd.Env = append(os.Environ(), "AUDIT_FSIZE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "EFBIG probed") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func fsizeChild(t *testing.T, dir string) {
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.probeEvery.Store(0)
	batch := func(id string) *Batch {
		recs := make([]StoredRecord, 100)
		for i := range recs {
			r := sampleRecord(i)
			recs[i] = Stored(&r)
		}
		return &Batch{ID: id, Records: recs}
	}
	for i := range 10 {
		if err := st.AppendBatch(batch("f-" + string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	fi, err := os.Stat(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Room for half a batch more in the segment; a new file of a whole
	// batch fits.
	size := fi.Size()
	limit := uint64(size + size/20)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendBatch(batch("f-over")); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("append past the file size limit: %v, want EFBIG", err)
	}
	if !st.Health().Failing() {
		t.Fatal("store not failing after a failed append")
	}
	if err := st.Probe(); err == nil || !st.Health().Failing() {
		t.Fatalf("Probe under the file size limit the segment is at: %v, failing %v; want an error naming the limit, still failing", err, st.Health().Failing())
	} else if !strings.Contains(err.Error(), "file size limit") {
		t.Errorf("Probe: %v, want it to name the file size limit", err)
	}
	t.Log("EFBIG probed")
}
