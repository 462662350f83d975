package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestFileWriterConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := NewFileWriter(path, FileConfig{Slots: 256})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	var accepted [workers]int
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				r := sampleRecord(i)
				if w.Emit(&r) {
					accepted[g]++
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range accepted {
		total += n
	}
	st := w.Stats()
	if st.Captured != uint64(total) || st.Written != uint64(total) || st.Captured+st.Dropped != workers*each {
		t.Errorf("stats %+v, accepted %d of %d", st, total, workers*each)
	}
	if got := countJSONLines(t, path); got != total {
		t.Errorf("file has %d records, want %d", got, total)
	}
	r := sampleRecord(0)
	if w.Emit(&r) || w.Accepting() {
		t.Errorf("Emit or Accepting true after Close")
	}
}

func countJSONLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
	}
	return n
}

func TestFileWriterBadPath(t *testing.T) {
	t.Parallel()
	if _, err := NewFileWriter(filepath.Join(t.TempDir(), "missing", "x"), FileConfig{}); err == nil {
		t.Fatal("got nil error for a missing directory")
	}
}
