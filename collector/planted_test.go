package collector

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An attacker who can write the data directory plants, in a sealed
// segment, a line naming the batch id alice's sidecar sends next (its ids
// are its instance id and a counter, both in the store), waits for the
// collector to restart, and removes the line once alice's batch has been
// acknowledged. The collector took the planted id for a stored batch and
// answered alice's batch 200 without storing it: her records were lost,
// and verify, the segment being restored, reported an intact trail. Batch
// ids (and event keys, and retention notes) are now taken only from
// entries of the signed chain.
func TestPlantedBatchIDDoesNotSuppressBatch(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	srv, st := startNamedCollector(t, dir, key, Config{})
	r := sampleRecord(1)
	r.Time = time.Now().UnixNano()
	r.SetRequestID([]byte("first"))
	if got := post(t, srv.URL, aliceToken, encodeBatch("alice-1", r), false); got != 200 {
		t.Fatalf("alice's first batch: status %d", got)
	}
	srv.Close()
	st.Close() // seals segment 1 with its digest

	path := filepath.Join(dir, segName(1))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A line of the entry's shape (no key needed): its hash chains from
	// the last entry; the batch id and sender are alice's next.
	lines := segLines(t, dir, 1)
	var last entryLine
	if err := decodeEntryLine(bytes.TrimSuffix(lines[len(lines)-1], []byte("\n")), &last); err != nil {
		t.Fatal(err)
	}
	prev, _ := parseHash(last.Hash)
	body := []byte(`{"seq":99,"kind":"batch","time":"2026-01-01T00:00:00Z","batch_id":"alice-2","sender":"token:alice","service":"svc","host":"h","instance":"i","records":[]}`)
	planted := appendEntryLine(nil, prev, chainHash(prev, body), nil, body)
	if err := os.WriteFile(path, append(append([]byte(nil), orig...), planted...), 0o600); err != nil {
		t.Fatal(err)
	}

	srv, st = startNamedCollector(t, dir, key, Config{})
	r.SetRequestID([]byte("second"))
	if got := post(t, srv.URL, aliceToken, encodeBatch("alice-2", r), false); got != 200 {
		t.Fatalf("alice's second batch: status %d", got)
	}
	srv.Close()
	st.Close()
	if err := os.WriteFile(path, orig, 0o600); err != nil { // the planted line removed
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, rec := range storedRecords(t, dir) {
		ids[rec.RequestID] = true
	}
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !ids["second"] && rep.OK() {
		t.Fatalf("alice's acknowledged batch alice-2 is not stored and verify reports an intact trail (%d batches): a planted line suppressed it", rep.Batches)
	}
	if !ids["second"] {
		t.Errorf("alice's acknowledged batch alice-2 is not stored")
	}
	if !rep.OK() {
		t.Errorf("verify after the planted line was removed: %v", rep.Problems)
	}
}
