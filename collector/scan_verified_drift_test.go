package collector

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// entryAt names a line of the store: its segment and its index there.
type entryAt struct {
	seg uint64
	i   int
}

func (a entryAt) String() string { return fmt.Sprintf("%d:%d", a.seg, a.i) }

// verdicts are the batch entries a reader yielded, with whether it passed
// each.
type verdicts map[entryAt]bool

// scanVerdicts are ScanVerifiedEntries' verdicts on the store in dir.
func scanVerdicts(t *testing.T, dir string, pub ed25519.PublicKey, after uint64, hash [32]byte) verdicts {
	t.Helper()
	v := verdicts{}
	_, err := ScanVerifiedEntries(dir, pub, after, hash, func(e *Entry) error {
		if e.Kind == KindBatch {
			v[entryAt{e.Segment, e.Index}] = e.Verified
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ScanVerifiedEntries: %v", err)
	}
	return v
}

// passVerdicts are the verifier's verdicts (a pass that marks records, as
// audit query reads the store) on the store in dir.
func passVerdicts(t *testing.T, dir string, pub ed25519.PublicKey) verdicts {
	t.Helper()
	v := verdicts{}
	_, err := ReadStore(dir, Pass{VerifyKey: pub, MarkVerified: true, Records: func(e *Entry, _ *StoredRecord) error {
		v[entryAt{e.Segment, e.Index}] = e.Verified
		return nil
	}})
	if err != nil {
		t.Fatalf("ReadStore: %v", err)
	}
	return v
}

// wantVerdicts are the batch entries of the segment files, from
// seq after on, each passed but those in failed.
func wantVerdicts(t *testing.T, dir string, after uint64, failed ...entryAt) verdicts {
	t.Helper()
	segs, _, _ := listSegments(dir)
	v := verdicts{}
	found := after == 0
	for _, n := range segs {
		data, err := os.ReadFile(filepath.Join(dir, segName(n)))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.SplitAfter(data, []byte("\n")) {
			var l entryLine
			var h entryHeader
			if !bytes.HasSuffix(line, []byte("\n")) || json.Unmarshal(line, &l) != nil || json.Unmarshal(l.Body, &h) != nil {
				continue
			}
			if found && h.Kind == KindBatch {
				v[entryAt{n, i}] = !slices.Contains(failed, entryAt{n, i})
			}
			found = found || h.Seq == after
		}
	}
	return v
}

func diffVerdicts(got, want verdicts) string {
	var out []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("%v not yielded (want verified=%v)", k, w))
		} else if g != w {
			out = append(out, fmt.Sprintf("%v verified=%v, want %v", k, g, w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%v yielded, want not", k))
		}
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

// driftStore writes a store of 20 batches over at least 4 segments, the
// last open, and returns its segment numbers.
func driftStore(t *testing.T, dir string, key ed25519.PrivateKey) []uint64 {
	t.Helper()
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3500}, 0, 20)
	st.Close()
	segs, _, _ := listSegments(dir)
	if len(segs) < 4 {
		t.Fatalf("want >= 4 segments, got %v", segs)
	}
	for _, n := range segs[:3] {
		if len(segLines(t, dir, n)) < 3 {
			t.Fatalf("want >= 3 entries in segment %d", n)
		}
	}
	return segs
}

// TestScanVerifiedEntriesAgreesWithVerify: ScanVerifiedEntries (the
// collector's detection replay) and the verifier (audit query, alerts,
// incident report, evidence) judge each entry of a store someone with
// write access but no key changed alike, and as the verifier's rules say
// (an entry after one not known is not vouched for; only signed digests
// and heads are believed).
func TestScanVerifiedEntriesAgreesWithVerify(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	other := newTestKey(t)
	cases := []struct {
		name   string
		change func(t *testing.T, dir string, segs []uint64) (failed []entryAt)
	}{
		{"intact", func(t *testing.T, dir string, segs []uint64) []entryAt { return nil }},
		{"an edited line", func(t *testing.T, dir string, segs []uint64) []entryAt {
			lines := segLines(t, dir, segs[1])
			lines[1] = bytes.Replace(lines[1], []byte(`"status":200`), []byte(`"status":201`), 1)
			writeSeg(t, dir, segs[1], lines)
			return []entryAt{{segs[1], 1}}
		}},
		{"two lines swapped", func(t *testing.T, dir string, segs []uint64) []entryAt {
			lines := segLines(t, dir, segs[1])
			lines[0], lines[1] = lines[1], lines[0]
			writeSeg(t, dir, segs[1], lines)
			// The entry now second links to the last entry that passed
			// (the end of segment 0), as its signature says: it passes
			// (chainCursor.follows; TestForgedLineHidesNoRealEntry).
			return []entryAt{{segs[1], 0}, {segs[1], 2}}
		}},
		{"a sealed line's stored hash edited", func(t *testing.T, dir string, segs []uint64) []entryAt {
			lines := segLines(t, dir, segs[1])
			lines[1] = editStoredHash(t, lines[1])
			writeSeg(t, dir, segs[1], lines)
			// The entry after names the hash the collector wrote, which
			// the edited line's content still hashes to: it passes
			// (chainCursor.judge; TestEditedHashFailsOneEntry).
			return []entryAt{{segs[1], 1}}
		}},
		{"an open line's stored hash edited", func(t *testing.T, dir string, segs []uint64) []entryAt {
			last := segs[len(segs)-1]
			lines := segLines(t, dir, last)
			lines[0] = editStoredHash(t, lines[0])
			writeSeg(t, dir, last, lines)
			return []entryAt{{last, 0}}
		}},
		{"a line duplicated", func(t *testing.T, dir string, segs []uint64) []entryAt {
			lines := segLines(t, dir, segs[1])
			writeSeg(t, dir, segs[1], slices.Insert(lines, 1, lines[0]))
			return []entryAt{{segs[1], 1}}
		}},
		{"two lines copied after themselves", func(t *testing.T, dir string, segs []uint64) []entryAt {
			lines := segLines(t, dir, segs[1])
			writeSeg(t, dir, segs[1], slices.Insert(lines, 2, lines[0], lines[1]))
			// The copy's second entry links to its first and follows its
			// seq, signed: it is a copy all the same (chainCursor.copied;
			// TestCopiedEntriesCountOnce).
			return []entryAt{{segs[1], 2}, {segs[1], 3}}
		}},
		{"a line deleted", func(t *testing.T, dir string, segs []uint64) []entryAt {
			lines := segLines(t, dir, segs[1])
			writeSeg(t, dir, segs[1], slices.Delete(lines, 1, 2))
			return []entryAt{{segs[1], 1}}
		}},
		{"the first line of the trail deleted", func(t *testing.T, dir string, segs []uint64) []entryAt {
			writeSeg(t, dir, segs[0], segLines(t, dir, segs[0])[1:])
			return []entryAt{{segs[0], 0}}
		}},
		{"the first segment deleted with its digest", func(t *testing.T, dir string, segs []uint64) []entryAt {
			os.Remove(filepath.Join(dir, segName(segs[0])))
			os.Remove(filepath.Join(dir, digestName(segs[0])))
			return []entryAt{{segs[1], 0}}
		}},
		{"a middle segment deleted with its digest", func(t *testing.T, dir string, segs []uint64) []entryAt {
			os.Remove(filepath.Join(dir, segName(segs[1])))
			os.Remove(filepath.Join(dir, digestName(segs[1])))
			return []entryAt{{segs[2], 0}}
		}},
		{"a line replaced by one that is not an entry", func(t *testing.T, dir string, segs []uint64) []entryAt {
			lines := segLines(t, dir, segs[1])
			lines[1] = []byte("not an entry\n")
			writeSeg(t, dir, segs[1], lines)
			return []entryAt{{segs[1], 2}}
		}},
		{"the last line cut", func(t *testing.T, dir string, segs []uint64) []entryAt {
			last := segs[len(segs)-1]
			lines := segLines(t, dir, last)
			lines[len(lines)-1] = lines[len(lines)-1][:40]
			writeSeg(t, dir, last, lines)
			data, _ := os.ReadFile(filepath.Join(dir, segName(last)))
			os.WriteFile(filepath.Join(dir, segName(last)), bytes.TrimSuffix(data, []byte("\n")), 0o600)
			return nil
		}},
		{"a sealed segment's last line cut", func(t *testing.T, dir string, segs []uint64) []entryAt {
			data, _ := os.ReadFile(filepath.Join(dir, segName(segs[1])))
			os.WriteFile(filepath.Join(dir, segName(segs[1])), data[:len(data)-20], 0o600)
			return []entryAt{{segs[2], 0}}
		}},
		{"two segments swapped", func(t *testing.T, dir string, segs []uint64) []entryAt {
			a, b := filepath.Join(dir, segName(segs[1])), filepath.Join(dir, segName(segs[2]))
			os.Rename(a, a+".tmp")
			os.Rename(b, a)
			os.Rename(a+".tmp", b)
			return []entryAt{{segs[1], 0}, {segs[2], 0}, {segs[3], 0}}
		}},
		{"the open segment sealed by a digest not signed by the collector", func(t *testing.T, dir string, segs []uint64) []entryAt {
			last := segs[len(segs)-1]
			seq, hash := lastEntry(t, dir, segs[len(segs)-2])
			doc, _, err := signDoc(other, domainDigest, segmentDigest{Segment: last, File: segName(last), LastSeq: seq,
				LastHash: fmt.Sprintf("%x", hash), Break: "forged", TrustedEntries: 0})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, digestName(last)), doc, 0o600)
			return nil
		}},
		{"a head not signed by the collector", func(t *testing.T, dir string, segs []uint64) []entryAt {
			last := segs[len(segs)-1]
			seq, hash := lastEntry(t, dir, segs[len(segs)-2])
			doc, _, err := signDoc(other, domainHead, storeHead{Segment: last, Seq: seq, Hash: fmt.Sprintf("%x", hash), Time: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, headFile), doc, 0o600)
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			segs := driftStore(t, dir, key)
			want := wantVerdicts(t, dir, 0, c.change(t, dir, segs)...)
			if d := diffVerdicts(scanVerdicts(t, dir, pub, 0, [32]byte{}), want); d != "[]" {
				t.Errorf("ScanVerifiedEntries: %s", d)
			}
			if d := diffVerdicts(passVerdicts(t, dir, pub), want); d != "[]" {
				t.Errorf("verifier: %s", d)
			}
		})
	}
}

// TestScanVerifiedEntriesAfterAgreesWithVerify: from a position (the
// detection snapshot's), ScanVerifiedEntries judges what follows it as the
// verifier does: an old entry copied after the position is flagged, not
// skipped, and a digest not signed by the collector hides no segment.
func TestScanVerifiedEntriesAfterAgreesWithVerify(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	cases := []struct {
		name   string
		change func(t *testing.T, dir string, segs []uint64) (failed []entryAt)
	}{
		{"intact", func(t *testing.T, dir string, segs []uint64) []entryAt { return nil }},
		{"an old entry copied after the position", func(t *testing.T, dir string, segs []uint64) []entryAt {
			old := segLines(t, dir, segs[0])[0]
			lines := segLines(t, dir, segs[2])
			writeSeg(t, dir, segs[2], slices.Insert(lines, 1, old))
			// The entry after the copy links to the one before it, the
			// last that passed: it passes (chainCursor.follows).
			return []entryAt{{segs[2], 1}}
		}},
		{"a segment after the position hidden by a digest not signed by the collector", func(t *testing.T, dir string, segs []uint64) []entryAt {
			last := segs[len(segs)-1]
			doc, _, err := signDoc(newTestKey(t), domainDigest, segmentDigest{Segment: last, File: segName(last), FirstSeq: 1, LastSeq: 1})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, digestName(last)), doc, 0o600)
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			segs := driftStore(t, dir, key)
			after, hash := lastEntry(t, dir, segs[0])
			want := wantVerdicts(t, dir, after, c.change(t, dir, segs)...)
			if d := diffVerdicts(scanVerdicts(t, dir, pub, after, hash), want); d != "[]" {
				t.Errorf("ScanVerifiedEntries after seq %d: %s", after, d)
			}
		})
	}
}

// TestScanVerifiedEntriesAcrossRetention: entries after segments the
// collector expired still pass, linked through the expired segments'
// signed digests.
func TestScanVerifiedEntriesAcrossRetention(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	// The store's clock starts in the past: verify judges retention by its
	// own clock (TestRetentionByClockStillAheadFound), and time the test
	// lets pass must not run ahead of it.
	now := time.Now().Add(-3 * time.Hour)
	cfg := StoreConfig{SegmentMaxBytes: 2000, Retention: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 8)
	now = now.Add(2 * time.Hour)
	if err := st.Maintain(now); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 100, 4)
	st.Close()
	if rep, _ := Verify(dir, pub); rep.Expired == 0 || !rep.OK() {
		t.Fatalf("expired %d, problems %v", rep.Expired, rep.Problems)
	}
	want := wantVerdicts(t, dir, 0)
	if d := diffVerdicts(scanVerdicts(t, dir, pub, 0, [32]byte{}), want); d != "[]" {
		t.Errorf("ScanVerifiedEntries: %s", d)
	}
	if d := diffVerdicts(passVerdicts(t, dir, pub), want); d != "[]" {
		t.Errorf("verifier: %s", d)
	}
}

// TestScanVerifiedEntriesLineTooLong: a line longer than MaxEntryBytes
// in a sealed segment (a sparse run of zero bytes here) fails its checks
// in ScanVerifiedEntries as in the verifier, and the scan goes on with the
// next segment: it ended the scan with an error, so the collector, which
// replays the trail with it at start, did not start.
func TestScanVerifiedEntriesLineTooLong(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	segs := driftStore(t, dir, key)
	path := filepath.Join(dir, segName(segs[1]))
	if err := os.Truncate(path, MaxEntryBytes+100_000); err != nil {
		t.Fatal(err)
	}
	appendLine(t, dir, segs[1], []byte("\n"))
	// OpenStore recovers the open segment only: the collector gets as far
	// as the replay.
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	rep, err := Verify(dir, pub)
	if err != nil || !hasProblem(rep, segs[1], ProblemCorruptEntry) {
		t.Fatalf("verify: %v, problems %v; want a corrupt entry in segment %d", err, rep.Problems, segs[1])
	}
	// Segment 2's first entry links to the last entry of segment 1 that
	// passed, before the long line: it passes (chainCursor.follows).
	want := wantVerdicts(t, dir, 0)
	failed := 0
	got := verdicts{}
	_, err = ScanVerifiedEntries(dir, pub, 0, [32]byte{}, func(e *Entry) error {
		if e.Kind == KindBatch {
			got[entryAt{e.Segment, e.Index}] = e.Verified
		} else if !e.Verified {
			failed++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ScanVerifiedEntries: %v", err)
	}
	if d := diffVerdicts(got, want); d != "[]" || failed != 1 {
		t.Errorf("ScanVerifiedEntries: %s, %d lines failed; want the long one", d, failed)
	}
}

// TestScanVerifiedEntriesSegmentDeletedDigestKept: a sealed segment
// deleted from the middle of the trail, its signed digest left in place,
// is no expiry (retention deletes the oldest segments): verify reports it
// missing, and ScanVerifiedEntries, which has no report, fails the entry
// after it rather than going on from the digest as if nothing were gone.
func TestScanVerifiedEntriesSegmentDeletedDigestKept(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	segs := driftStore(t, dir, key)
	if err := os.Remove(filepath.Join(dir, segName(segs[1]))); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(dir, pub); !hasProblem(rep, segs[1], ProblemMissingSegment) {
		t.Fatalf("verify: problems %v, want segment %d missing", rep.Problems, segs[1])
	}
	want := wantVerdicts(t, dir, 0, entryAt{segs[2], 0})
	if d := diffVerdicts(scanVerdicts(t, dir, pub, 0, [32]byte{}), want); d != "[]" {
		t.Errorf("ScanVerifiedEntries: %s", d)
	}
}

// editStoredHash returns line with its stored hash (the "hash" field)
// changed in its first hex digit, the rest as it was.
func editStoredHash(t *testing.T, line []byte) []byte {
	t.Helper()
	i := bytes.Index(line, []byte(`"hash":"`))
	if i < 0 {
		t.Fatalf("no hash in %q", line)
	}
	out := slices.Clone(line)
	i += len(`"hash":"`)
	if out[i] == '0' {
		out[i] = '1'
	} else {
		out[i] = '0'
	}
	return out
}
