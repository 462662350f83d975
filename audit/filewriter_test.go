package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
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

// Swap hands the writer the caller's record and gives back one the writer
// is done with: with writers refilling whatever they got back, and others
// emitting copies beside them, every accepted record reaches the file
// exactly once and intact, so a record handed back is never one still
// waiting in the ring.
func TestFileWriterSwap(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := NewFileWriter(path, FileConfig{Slots: 64})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 3000
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[string]bool{}
	for g := range workers {
		wg.Go(func() {
			r := new(Record)
			for i := range each {
				id := fmt.Sprintf("w%d-%d", g, i)
				r.Reset()
				r.SetRequestID([]byte(id))
				r.SetPath([]byte("/" + id))
				next, ok := r, false
				if g%2 == 0 { // even workers hand over, odd ones copy
					next, ok = w.Swap(r)
				} else {
					ok = w.Emit(r)
				}
				if ok {
					mu.Lock()
					want[id] = true
					mu.Unlock()
				} else if next != r {
					t.Errorf("a refused Swap gave back %p, not the caller's %p", next, r)
				}
				r = next
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]bool{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec struct {
			RequestID string `json:"request_id"`
			Path      string `json:"path"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if got[rec.RequestID] || rec.Path != "/"+rec.RequestID {
			t.Fatalf("record %q (path %q) written twice or torn", rec.RequestID, rec.Path)
		}
		got[rec.RequestID] = true
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("file has %d records, %d were accepted", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("accepted record %q is missing", id)
		}
	}
}
