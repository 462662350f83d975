package collector

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// hostileChain writes segment 1 of dir as n small entries that hash-chain
// (no key is needed for that), as anyone who can write the directory can.
func hostileChain(t *testing.T, dir string, n int) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, segName(1)))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var prev [32]byte
	var line, body []byte
	for i := 1; i <= n; i++ {
		body = strconv.AppendInt(append(body[:0], `{"seq":`...), int64(i), 10)
		body = append(body, `,"kind":"batch","time":"2026-01-01T00:00:00Z","batch_id":"b","service":"s","host":"h","instance":"i","records":[{"time":"2026-01-01T00:00:00Z","tenant":"t"}]}`...)
		h := chainHash(prev, body)
		line = appendEntryLine(line[:0], prev, h, nil, body)
		w.Write(line)
		prev = h
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Verify's memory stayed bounded in a segment's size but not in its
// entries: it kept every entry's chain hash (by seq) to compare the heads
// and digests with, some 60 bytes an entry, so a store of many small
// entries (a busy fleet's, or one written to exhaust the verifier) made
// verify, and the evidence pack, hold memory in proportion to the store.
// It now keeps the hashes of the entries a head or digest names only.
// The live heap is measured at the last record of a verifying pass (the
// evidence pack's), with the chain before it checked. Not parallel: it
// measures the process's heap.
func TestVerifyMemoryBoundedInEntries(t *testing.T) {
	pub := newTestKey(t).Public().(ed25519.PublicKey)
	live := func(n int) uint64 {
		dir := t.TempDir()
		hostileChain(t, dir, n)
		var heap uint64
		seen := 0
		_, err := ReadStore(dir, Pass{VerifyKey: pub, Records: func(*Entry, *StoredRecord) error {
			if seen++; seen == n {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				heap = m.HeapAlloc
			}
			return nil
		}})
		if err != nil || seen != n {
			t.Fatalf("pass over %d entries: %d records, %v", n, seen, err)
		}
		return heap
	}
	const small, large = 20_000, 200_000
	a, b := live(small), live(large)
	perEntry := (float64(b) - float64(a)) / (large - small)
	t.Logf("live heap at the last of %d entries %d bytes, of %d entries %d: %.1f bytes an entry", small, a, large, b, perEntry)
	if perEntry > 16 {
		t.Errorf("verify holds %.1f bytes for every entry of a store: its memory grows with the store", perEntry)
	}
}

// A segment of junk lines made verify record a problem, with its text,
// for every line: its report, and its memory, grew with the file (a few
// MB of newlines written into the data directory held hundreds of MB).
// Problems with entries past the first maxEntryProblems are counted, not
// listed, and the report still fails. Not parallel: it measures the
// process's heap.
func TestVerifyProblemsBounded(t *testing.T) {
	dir := t.TempDir()
	pub := newTestKey(t).Public().(ed25519.PublicKey)
	const lines = 300_000
	if err := os.WriteFile(filepath.Join(dir, segName(1)), bytes.Repeat([]byte("x\n"), lines), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !hasProblem(rep, 1, ProblemCorruptEntry) {
		t.Fatalf("a segment of junk passed: %d problems", len(rep.Problems))
	}
	if len(rep.Problems) > maxEntryProblems+10 {
		t.Errorf("verify listed %d problems for %d junk lines: its report grows with the file", len(rep.Problems), lines)
	}
	if rep.OmittedProblems != lines-maxEntryProblems {
		t.Errorf("omitted %d problems, want %d", rep.OmittedProblems, lines-maxEntryProblems)
	}
}
