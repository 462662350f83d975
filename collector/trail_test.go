package collector

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests in this file reproduce the attacks of issue 21 (items 1-4) and
// issue 13 (item 10) on real store files: each makes the change a person
// with write access to the data directory, but no signing key, can make.

// openTestStore opens a store in dir and appends n batches of 2 records.
func openTestStore(t *testing.T, dir string, key ed25519.PrivateKey, cfg StoreConfig, from, n int) *Store {
	t.Helper()
	cfg.SigningKey = key
	st, err := OpenStore(dir, cfg)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	appendBatches(t, st, from, n)
	return st
}

func appendBatches(t *testing.T, st *Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		a, b := sampleRecord(2*i), sampleRecord(2*i+1)
		if err := st.AppendBatch(&Batch{ID: "b" + itoa(i), Records: []StoredRecord{Stored(&a), Stored(&b)}}); err != nil {
			t.Fatalf("AppendBatch %d: %v", i, err)
		}
	}
}

// lastEntry returns the seq and hash of the last line of segment n.
func lastEntry(t *testing.T, dir string, n uint64) (uint64, [32]byte) {
	t.Helper()
	lines := segLines(t, dir, n)
	var l entryLine
	var h entryHeader
	if err := json.Unmarshal(lines[len(lines)-1], &l); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(l.Body, &h); err != nil {
		t.Fatal(err)
	}
	hash, _ := parseHash(l.Hash)
	return h.Seq, hash
}

// forgeBatch appends to segment n a correctly hashed batch entry that the
// collector never wrote: no key is needed for that.
func forgeBatch(t *testing.T, dir string, n uint64, id string, at time.Time) {
	t.Helper()
	seq, prev := lastEntry(t, dir, n)
	r := sampleRecord(999)
	rec := Stored(&r)
	rec.Tenant = "forged-tenant"
	body := fmtBody(t, map[string]any{"seq": seq + 1, "kind": KindBatch, "time": at.UTC(), "batch_id": id,
		"records": []StoredRecord{rec}})
	appendLine(t, dir, n, appendEntryLine(nil, prev, chainHash(prev, body), nil, body))
}

func fmtBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendLine(t *testing.T, dir string, n uint64, line []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, segName(n)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(line); err != nil {
		t.Fatal(err)
	}
}

func problems(rep *VerifyReport) []string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.What)
	}
	return out
}

func wantProblems(t *testing.T, rep *VerifyReport, want ...string) {
	t.Helper()
	got := problems(rep)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("problems = %q, want %q\n%v", got, want, rep.Problems)
	}
}

func tenants(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		out[r.Tenant]++
	}
	return out
}

func TestVerifyFindsForgedTail(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 3)
	defer st.Close()
	segs, _, _ := listSegments(dir)
	forgeBatch(t, dir, segs[len(segs)-1], "forged", time.Now())

	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep, ProblemUnsignedTail)
	if rep.Unsigned != 1 {
		t.Errorf("unsigned = %d, want 1", rep.Unsigned)
	}
	// A young tail passes only when the operator allows one that young.
	rep, _ = VerifyWith(dir, pub, VerifyOptions{AllowUnsignedTail: time.Hour})
	wantProblems(t, rep)
	rep, _ = VerifyWith(dir, pub, VerifyOptions{AllowUnsignedTail: time.Hour, Now: time.Now().Add(2 * time.Hour)})
	wantProblems(t, rep, ProblemUnsignedTail)
	// Query does not show a record no signed head vouches for.
	if got := tenants(t, dir)["forged-tenant"]; got != 0 {
		t.Errorf("query shows %d forged records, want 0", got)
	}
}

// The allowance judges a tail by times the forger cannot move: an entry
// dated before the signed head that does not vouch for it, or after the
// verifier's clock, is not covered, however young it claims to be.
func TestVerifyUnsignedTailWithinSignedTimes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		at   []time.Duration // forged entries' times from now
		want []string
	}{
		{"young, after the head", []time.Duration{0}, nil},
		{"before the head", []time.Duration{-30 * time.Second}, []string{ProblemUnsignedTail}},
		{"young then future", []time.Duration{0, time.Hour}, []string{ProblemUnsignedTail}},
		{"future then young", []time.Duration{time.Hour, 0}, []string{ProblemUnsignedTail}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			st := openTestStore(t, dir, key, StoreConfig{}, 0, 3)
			defer st.Close()
			segs, _, _ := listSegments(dir)
			now := time.Now()
			for i, d := range tc.at {
				forgeBatch(t, dir, segs[len(segs)-1], "forged-"+itoa(i), now.Add(d))
			}
			rep, err := VerifyWith(dir, key.Public().(ed25519.PublicKey), VerifyOptions{AllowUnsignedTail: time.Hour, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, rep, tc.want...)
		})
	}
}

func TestRecoveryDoesNotSignOverForgedTail(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 3)
	segs, _, _ := listSegments(dir)
	open := segs[len(segs)-1]
	// The collector crashes (no Close: the segment stays open) and the
	// attacker appends an entry with the id of a batch not yet delivered.
	st.seg.Close()
	forgeBatch(t, dir, open, "b3", time.Now())

	st = openTestStore(t, dir, key, StoreConfig{}, 3, 2) // the real b3 and b4 arrive
	if got := st.Stats().Breaks; got != 1 {
		t.Errorf("breaks = %d, want 1", got)
	}
	st.Close()
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep, ProblemRecordedBreak)
	if rep.Batches != 5 || rep.Breaks != 1 || rep.Unsigned != 0 {
		t.Errorf("report %+v, want the 5 real batches and 1 break", rep)
	}
	if !strings.Contains(rep.Problems[0].Detail, "1 entries after seq 3") {
		t.Errorf("break detail %q does not say what was excluded", rep.Problems[0].Detail)
	}
	got := tenants(t, dir)
	if got["forged-tenant"] != 0 || len(storedRecords(t, dir)) != 10 {
		t.Errorf("query shows %v, want the 10 real records and no forged one", got)
	}
}

func TestRecoveryRefusesToSignOverBrokenChain(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 4)
	st.seg.Close()
	segs, _, _ := listSegments(dir)
	open := segs[len(segs)-1]
	lines := segLines(t, dir, open)
	lines[1] = bytes.Replace(lines[1], []byte(`"status":200`), []byte(`"status":201`), 1)
	writeSeg(t, dir, open, lines)

	st = openTestStore(t, dir, key, StoreConfig{}, 10, 1)
	st.Close()
	rep, _ := Verify(dir, pub)
	wantProblems(t, rep, ProblemRecordedBreak)
	if d := rep.Problems[0].Detail; !strings.Contains(d, "entry 1: content does not hash") {
		t.Errorf("break detail %q, want the entry that does not hash", d)
	}
	// The sealed segment is covered by its digest as found: a later edit
	// of the excluded entries is still seen.
	lines = segLines(t, dir, open)
	lines[2] = bytes.Replace(lines[2], []byte(`"status":200`), []byte(`"status":202`), 1)
	writeSeg(t, dir, open, lines)
	rep, _ = Verify(dir, pub)
	if !hasProblem(rep, open, ProblemDigestMismatch) {
		t.Errorf("edit after the seal: problems %v, want a digest mismatch", rep.Problems)
	}
}

// TestRecoveryRefusesDeletedOpenSegment: the open segment deleted under
// the head naming it was recorded as a break at the start, which then
// appended on; it is refused now (TestStartRefusesNewestSegmentDeleted),
// before the start writes a segment.
func TestRecoveryRefusesDeletedOpenSegment(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 3)
	if err := st.Rotate(); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 3, 2)
	st.seg.Close()
	segs, _, _ := listSegments(dir)
	os.Remove(filepath.Join(dir, segName(segs[len(segs)-1])))
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err == nil {
		st.Close()
		t.Fatal("OpenStore took a store whose open segment was deleted under the head naming it")
	}
	if !strings.Contains(err.Error(), segName(segs[len(segs)-1])+" is gone") {
		t.Errorf("OpenStore = %v; want it to name %s", err, segName(segs[len(segs)-1]))
	}
	if after, _, _ := listSegments(dir); len(after) != len(segs)-1 {
		t.Errorf("segments %v after the refused start, want %v: it wrote to the store", after, segs[:len(segs)-1])
	}
}

func TestHeadSignerSignsWhenIdle(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 1)
	defer st.Close()
	anchor := FileAnchor(filepath.Join(t.TempDir(), "published-head.json"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.RunHeadSigner(ctx, 20*time.Millisecond, []HeadPublisher{anchor}, func(err error) { t.Error(err) })
	}()
	defer func() { cancel(); <-done }() // before the directories go
	var times []time.Time
	deadline := time.Now().Add(60 * time.Second)
	for len(times) < 3 && time.Now().Before(deadline) {
		doc, err := os.ReadFile(string(anchor))
		if err == nil {
			h, err := OpenHead(doc, pub)
			if err != nil {
				t.Fatal(err)
			}
			if h.Seq != 1 {
				t.Fatalf("published seq %d, want 1", h.Seq)
			}
			if len(times) == 0 || h.Time.After(times[len(times)-1]) {
				times = append(times, h.Time)
			}
		}
		time.Sleep(5 * time.Millisecond) // polling a file, not synchronising
	}
	if len(times) < 3 {
		t.Fatalf("published heads at %v with nothing appended, want 3 signed at different times", times)
	}
}

func TestVerifyFindsHiddenDeletion(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 8)
	defer st.Close()
	_, digests, _ := listSegments(dir)
	if len(digests) < 3 {
		t.Fatalf("digests %v, want 3 closed segments", digests)
	}
	// Delete a young closed segment and explain it away with a retention
	// entry copied from the format the collector writes.
	victim := digests[1]
	d, sig, err := st.readDigest(victim)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, segName(victim)))
	segs, _, _ := listSegments(dir)
	open := segs[len(segs)-1]
	seq, prev := lastEntry(t, dir, open)
	body := fmtBody(t, map[string]any{"seq": seq + 1, "kind": KindRetention, "time": time.Now().UTC(),
		"segment": victim, "expired_through": victim, "last_seq": d.LastSeq, "last_hash": d.LastHash,
		"digest_signature": sig, "retention_seconds": 1, "signature": "AAAA"})
	appendLine(t, dir, open, appendEntryLine(nil, prev, chainHash(prev, body), nil, body))

	rep, _ := VerifyWith(dir, pub, VerifyOptions{AllowUnsignedTail: time.Hour})
	wantProblems(t, rep, ProblemBadRetention, ProblemMissingSegment)
	if rep.Expired != 0 {
		t.Errorf("expired = %d, want 0", rep.Expired)
	}
}

func TestRetentionSignedAndOnlyForOldSegments(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000, Retention: time.Hour}, 0, 8)
	defer st.Close()
	// The collector's own retention, an hour later: verified as expired.
	// (The open segment this pass rotates expires at the next one:
	// retention runs first, to make room on a full disk.)
	_, digests, _ := listSegments(dir)
	later := time.Now().Add(2 * time.Hour)
	if err := st.Maintain(later); err != nil {
		t.Fatal(err)
	}
	rep, _ := VerifyWith(dir, pub, VerifyOptions{Now: later}) // verify's clock, an hour later too
	wantProblems(t, rep)
	if rep.Expired != len(digests) {
		t.Fatalf("expired = %d, want %d", rep.Expired, len(digests))
	}

	// A signed entry for a segment younger than the retention in force
	// (what a collector with a wrong clock would write) is refused.
	dir2 := t.TempDir()
	st2 := openTestStore(t, dir2, key, StoreConfig{SegmentMaxBytes: 3000, Retention: time.Hour}, 0, 8)
	defer st2.Close()
	d, sig, _ := st2.readDigest(1)
	os.Remove(filepath.Join(dir2, segName(1)))
	st2.mu.Lock()
	err := st2.appendLocked(st2.retentionBody(1, d, sig, time.Now()))
	st2.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = Verify(dir2, pub)
	wantProblems(t, rep, ProblemBadRetention, ProblemMissingSegment)
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func restore(t *testing.T, backup, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyDir(t, backup), dir); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsRollback(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	anchor := FileAnchor(filepath.Join(t.TempDir(), "head.json"))
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 0, 4)
	st.Close()
	backup := copyDir(t, dir)
	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 4, 4)
	doc, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := PublishHead(t.Context(), doc, time.Minute, []HeadPublisher{anchor}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	published, err := OpenHead(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := Verify(dir, pub)
	kept := rep.HeadHash
	if kept != published.Hash {
		t.Fatalf("verify names head %q, the published head %q", kept, published.Hash)
	}

	// 1. Restore the whole older copy: intact on its own, behind the anchor.
	restore(t, backup, dir)
	rep, _ = Verify(dir, pub)
	wantProblems(t, rep)
	rep, _ = VerifyWith(dir, pub, VerifyOptions{Published: published})
	wantProblems(t, rep, ProblemRolledBack)
	rep, _ = VerifyWith(dir, pub, VerifyOptions{ExpectHead: kept})
	wantProblems(t, rep, ProblemRolledBack)
	// A collector restarted on it cannot move the anchor back.
	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 100, 1)
	doc, _ = st.SignHead(time.Now())
	st.Close()
	if err := anchor.PublishHead(t.Context(), doc); !errors.Is(err, ErrHeadBehind) {
		t.Errorf("publishing an older head: %v, want ErrHeadBehind", err)
	}
}

func TestVerifyFindsNewestSegmentsDeletedWithOlderHead(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 0, 3)
	oldHead, _ := os.ReadFile(filepath.Join(dir, headFile))
	appendBatches(t, st, 3, 6)
	doc, _ := st.SignHead(time.Now())
	st.Close()
	published, _ := OpenHead(doc, pub)
	// Delete every segment and digest after the old head's, restore it.
	var old storeHead
	if _, err := openDoc(oldHead, pub, domainHead, &old); err != nil {
		t.Fatal(err)
	}
	segs, digests, _ := listSegments(dir)
	for _, n := range segs {
		if n > old.Segment {
			os.Remove(filepath.Join(dir, segName(n)))
		}
	}
	for _, n := range digests {
		if n >= old.Segment {
			os.Remove(filepath.Join(dir, digestName(n)))
		}
	}
	os.WriteFile(filepath.Join(dir, headFile), oldHead, 0o600)
	rep, _ := Verify(dir, pub)
	wantProblems(t, rep) // on its own the store looks whole...
	rep, _ = VerifyWith(dir, pub, VerifyOptions{Published: published})
	wantProblems(t, rep, ProblemRolledBack) // ...but not next to the anchor
}

func TestEmptyAndWrongDirectories(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	if _, err := Verify(filepath.Join(t.TempDir(), "nope"), pub); err == nil {
		t.Error("verify of a missing directory: no error")
	}
	wrong := t.TempDir()
	os.WriteFile(filepath.Join(wrong, "notes.txt"), []byte("hi"), 0o600)
	if _, err := Verify(wrong, pub); !errors.Is(err, ErrNoStore) {
		t.Errorf("verify of a directory with no store: %v, want ErrNoStore", err)
	}
	if err := QueryRecords(wrong, Filter{}, func(*StoredRecord) error { return nil }); !errors.Is(err, ErrNoStore) {
		t.Errorf("query of a directory with no store: %v, want ErrNoStore", err)
	}

	dir := t.TempDir()
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 0)
	st.Close()
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep, ProblemEmpty)
	rep, _ = VerifyWith(dir, pub, VerifyOptions{AllowEmpty: true})
	wantProblems(t, rep)
	if empty, err := IsEmpty(dir); !empty || err != nil {
		t.Errorf("IsEmpty = %v, %v", empty, err)
	}

	// Every segment and the head deleted: found by the head kept elsewhere.
	st = openTestStore(t, dir, key, StoreConfig{}, 0, 2)
	st.Close()
	rep, _ = Verify(dir, pub)
	kept := rep.HeadHash
	segs, digests, _ := listSegments(dir)
	for _, n := range segs {
		os.Remove(filepath.Join(dir, segName(n)))
	}
	for _, n := range digests {
		os.Remove(filepath.Join(dir, digestName(n)))
	}
	os.Remove(filepath.Join(dir, headFile))
	rep, _ = VerifyWith(dir, pub, VerifyOptions{AllowEmpty: true, ExpectHead: kept})
	wantProblems(t, rep, ProblemRolledBack)
	os.Remove(filepath.Join(dir, storeMarker))
	if _, err := Verify(dir, pub); !errors.Is(err, ErrNoStore) {
		t.Errorf("all files deleted: %v, want ErrNoStore", err)
	}
}

func TestSegmentThatIsNotARegularFile(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	cases := map[string]func(t *testing.T, path string){
		"symlink to /dev/zero": func(t *testing.T, path string) { mustSymlink(t, "/dev/zero", path) },
		"symlink outside": func(t *testing.T, path string) {
			mustSymlink(t, filepath.Join(t.TempDir(), "outside.log"), path)
		},
		"fifo": func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, replace := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			st := openTestStore(t, dir, key, StoreConfig{}, 0, 2)
			st.seg.Close()
			segs, _, _ := listSegments(dir)
			path := filepath.Join(dir, segName(segs[len(segs)-1]))
			outside := filepath.Join(t.TempDir(), "outside.log")
			os.WriteFile(outside, []byte("operator's file\n"), 0o600)
			os.Remove(path)
			if name == "symlink outside" {
				mustSymlink(t, outside, path)
			} else {
				replace(t, path)
			}
			done := make(chan struct{})
			var rep *VerifyReport
			go func() { rep, _ = Verify(dir, pub); close(done) }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("verify did not return")
			}
			if len(rep.Problems) == 0 || rep.Problems[0].What != ProblemNotRegular {
				t.Errorf("problems %v, want first %q", rep.Problems, ProblemNotRegular)
			}
			if _, err := OpenStore(dir, StoreConfig{SigningKey: key}); !errors.Is(err, ErrNotRegular) {
				t.Errorf("OpenStore over a %s: %v, want ErrNotRegular", name, err)
			}
			if b, _ := os.ReadFile(outside); string(b) != "operator's file\n" {
				t.Errorf("file outside the store now holds %q", b)
			}
			if err := QueryRecords(dir, Filter{}, func(*StoredRecord) error { return nil }); !errors.Is(err, ErrNotRegular) {
				t.Errorf("query: %v, want ErrNotRegular", err)
			}
		})
	}
}

func mustSymlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// TestHugeSparseSegment replaces segments with a 6 GB sparse file (one line
// of zero bytes, no newline): verify and query read a bounded amount. It
// is not parallel: the bytes allocated are the process's, and the
// package's parallel tests allocating beside it took the count over the
// bound once in CI (2125 MiB).
func TestHugeSparseSegment(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a 6 GB sparse file")
	}
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 0, 8)
	st.seg.Close()
	segs, _, _ := listSegments(dir)
	for _, n := range []uint64{segs[0], segs[len(segs)-1]} { // a closed and the open segment
		if err := os.Truncate(filepath.Join(dir, segName(n)), 6<<30); err != nil {
			t.Fatal(err)
		}
	}
	before := totalAlloc()
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(rep, segs[0], ProblemDigestMismatch) || !hasProblem(rep, segs[len(segs)-1], ProblemCorruptEntry) {
		t.Errorf("problems %v, want a digest mismatch on the closed and a corrupt entry on the open segment", rep.Problems)
	}
	err = QueryRecords(dir, Filter{}, func(*StoredRecord) error { return nil })
	if !errors.Is(err, errLineTooLong) {
		t.Errorf("query: %v, want a line too long", err)
	}
	if got := totalAlloc() - before; got > 2<<30 {
		t.Errorf("verify and query allocated %d MiB for a 6 GB file, want a bounded amount", got>>20)
	}
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestCrashBeforeHeadIsNotABreak: an entry fsync'd just before a crash,
// its head not yet renamed into place, carries its own signature: neither
// verify nor recovery takes it for a forged tail.
func TestCrashBeforeHeadIsNotABreak(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 2)
	older, _ := os.ReadFile(filepath.Join(dir, headFile))
	appendBatches(t, st, 2, 1)
	st.seg.Close() // the crash: no Close, and the head of before the append
	os.WriteFile(filepath.Join(dir, headFile), older, 0o600)

	rep, _ := Verify(dir, pub)
	wantProblems(t, rep)
	st = openTestStore(t, dir, key, StoreConfig{}, 3, 1)
	st.Close()
	if st.Stats().Breaks != 0 {
		t.Errorf("breaks = %d, want 0", st.Stats().Breaks)
	}
	rep, _ = Verify(dir, pub)
	wantProblems(t, rep)
	if rep.Batches != 4 {
		t.Errorf("batches = %d, want 4", rep.Batches)
	}
}

// TestVerifySegmentWithHugeNumber: a planted seg-99999999.log costs one
// problem for the gap, not one per missing number.
func TestVerifySegmentWithHugeNumber(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 2)
	st.Close()
	os.WriteFile(filepath.Join(dir, segName(99999999)), []byte("{}\n"), 0o600)
	rep, err := Verify(dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) == 0 || len(rep.Problems) > 4 || !hasProblem(rep, 2, ProblemMissingSegment) {
		t.Fatalf("problems %v, want the gap reported once", rep.Problems)
	}
}

// TestPlantedLinksAreNotWrittenThrough: links planted at the names the
// collector writes (the head's temporary file, a digest's) never make it
// write into a file outside the store.
func TestPlantedLinksAreNotWrittenThrough(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, []byte("operator's file\n"), 0o600)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 1)
	mustSymlink(t, outside, filepath.Join(dir, "."+headFile))
	mustSymlink(t, outside, filepath.Join(dir, ".tmp-"+digestName(1)))
	appendBatches(t, st, 1, 1)
	st.Rotate() // may fail: what matters is where it writes
	st.Close()
	if b, _ := os.ReadFile(outside); string(b) != "operator's file\n" {
		t.Errorf("file outside the store now holds %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, headFile)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("head: %v, %v; want a regular file", fi, err)
	}
}

// A segment whose creation failed half-way is removed, and when it cannot
// be removed the failure names it (issue 19 item 8: the error was
// dropped, and the next append failed with "file exists" for no stated
// reason). A non-empty directory stands for the file that will not go,
// which even root cannot remove.
func TestDiscardSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, segName(1))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := discardSegment(f, path); err != nil {
		t.Errorf("discardSegment(%q) = %v, want nil", path, err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("segment still there after discardSegment: %v", err)
	}

	stuck := filepath.Join(dir, segName(2))
	if err := os.MkdirAll(filepath.Join(stuck, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = discardSegment(f, stuck)
	if err == nil || !strings.Contains(err.Error(), stuck) {
		t.Errorf("discardSegment of a segment that cannot be removed = %v, want an error naming %q", err, stuck)
	}
}
