package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestartAfterPartialCutRecordsBreak: the README says the local signed
// head "still catches a partial cut". Cut the newest entries off the open
// segment (every entry left carries its own signature) and leave head.json
// alone: verify reports the cut. Restart the collector (a crash, a deploy,
// a node drain): recovery checks the open segment's links and signatures
// but never compares its end with the signed head, reopens it, and the
// next append re-signs the head over the shorter chain. verify passes.
func TestRestartAfterPartialCutRecordsBreak(t *testing.T) {
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 6) // one open segment, seq 1..6
	st.seg.Close()                                        // a crash: no digest, head names seq 6
	segs, _, _ := listSegments(dir)
	open := segs[len(segs)-1]
	lines := segLines(t, dir, open)
	writeSeg(t, dir, open, lines[:3]) // batches b3..b5 (seq 4..6) removed

	rep, _ := Verify(dir, pub)
	t.Logf("before the restart: %v", rep.Problems) // truncated: head names seq 6

	st = openTestStore(t, dir, key, StoreConfig{}, 100, 1) // the collector comes back, one batch arrives
	st.Close()
	rep, _ = Verify(dir, pub)
	if rep.OK() {
		t.Fatalf("after the restart verify passes with %d batches (breaks %d): batches b3..b5, acknowledged and covered by the signed head, are gone without trace", rep.Batches, rep.Breaks)
	}
}

// TestRestartWithoutHeadRecordsBreak: delete the newest segments,
// their digests and head.json. verify on the store as left reports the
// missing head, but a collector restarted on it records no break (its
// check of the head behind the chain needs a head to read) and writes a
// fresh head over a new segment of the same number: verify then passes
// with every entry after the kept digest gone. The start now refuses a
// store without its head (TestStartRefusesStoreWithoutHead); accepted by
// the operator, it records the break.
func TestRestartWithoutHeadRecordsBreak(t *testing.T) {
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
	st.Close()
	rep, _ := Verify(dir, pub)
	if !rep.OK() {
		t.Fatal(rep.Problems)
	}
	batchesBefore := rep.Batches
	segs, digests, _ := listSegments(dir)
	if len(digests) < 4 {
		t.Fatalf("digests %v", digests)
	}
	keep := digests[1] // keep segments 1..2, delete everything after
	for _, n := range segs {
		if n > keep {
			os.Remove(filepath.Join(dir, segName(n)))
		}
	}
	for _, n := range digests {
		if n > keep {
			os.Remove(filepath.Join(dir, digestName(n)))
		}
	}
	os.Remove(filepath.Join(dir, headFile))
	rep, _ = Verify(dir, pub)
	t.Logf("before the restart: %v", problems(rep)) // missing head

	if st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1500}); err == nil {
		st.Close()
		t.Fatal("OpenStore took a store whose head was deleted")
	}
	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500, AcceptMissingHead: "the test"}, 100, 1)
	st.Close()
	rep, _ = Verify(dir, pub)
	if rep.OK() {
		t.Fatalf("after a restart, verify passes with %d of %d batches (breaks %d): the cut is laundered", rep.Batches, batchesBefore, rep.Breaks)
	}
}

// TestRestartOnForkedHeadRecordsBreak: the signed head names an entry the
// chain holds under another hash: the store was restored from an older
// copy and continued (a fork), and head.json taken from the original.
// Every entry links and is signed, but the entries the head vouched for
// are not these: a restarted collector records a break rather than signing
// a head over the fork, whether the head names the fork's last entry or
// one before it.
func TestRestartOnForkedHeadRecordsBreak(t *testing.T) {
	t.Parallel()
	for name, at := range map[string]int{"at the tip": 0, "inside the open segment": 1} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			pub := key.Public().(ed25519.PublicKey)
			st := openTestStore(t, dir, key, StoreConfig{}, 0, 4)
			st.Close()
			backup := copyDir(t, dir)
			st = openTestStore(t, dir, key, StoreConfig{}, 4, 2-at) // the original: seq 6 (or 5)
			st.seg.Close()
			original, _ := os.ReadFile(filepath.Join(dir, headFile))

			restore(t, backup, dir)
			st = openTestStore(t, dir, key, StoreConfig{}, 100, 2) // the fork: seq 5'..6'
			st.seg.Close()
			os.WriteFile(filepath.Join(dir, headFile), original, 0o600)

			st = openTestStore(t, dir, key, StoreConfig{}, 200, 1)
			st.Close()
			if st.Stats().Breaks != 1 {
				t.Fatalf("breaks = %d, want 1 for the fork", st.Stats().Breaks)
			}
			rep, _ := Verify(dir, pub)
			wantProblems(t, rep, ProblemRecordedBreak)
			if d := rep.Problems[0].Detail; !strings.Contains(d, "a fork") {
				t.Errorf("break detail %q does not name the fork", d)
			}
		})
	}
}

// TestRestartWithInvalidHeadRecordsBreak: a head.json that does not verify
// (replaced, or garbage) vouches for nothing: like a deleted one, the
// start refuses it (no crash leaves it: TestStartRefusesStoreWithInvalidHead),
// and with AcceptMissingHead the collector records that it cannot tell
// what was removed.
func TestRestartWithInvalidHeadRecordsBreak(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 6)
	st.Close()
	other := t.TempDir() // a head signed by another key
	openTestStore(t, other, newTestKey(t), StoreConfig{}, 0, 9).Close()
	forged, _ := os.ReadFile(filepath.Join(other, headFile))
	os.WriteFile(filepath.Join(dir, headFile), forged, 0o600)

	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500, AcceptMissingHead: "the operator"}, 100, 1)
	st.Close()
	rep, _ := Verify(dir, pub)
	wantProblems(t, rep, ProblemRecordedBreak)
	if d := rep.Problems[0].Detail; !strings.Contains(d, "no valid signed head") || !strings.Contains(d, "how many is unknown") {
		t.Errorf("break detail %q", d)
	}
}

// TestCrashesBeforeTheHeadAreNotBreaks: the crashes the README promises
// lose nothing acknowledged stay clean after a restart. A new store
// writes its first head (seq 0) when it is opened, durably, so a crash
// after the first entry's fsync and before its head leaves that head; a
// crash after later entries leaves the head of the entry before, in a
// store with closed segments too.
func TestCrashesBeforeTheHeadAreNotBreaks(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ before, maxBytes int }{
		"first entry":                {0, 0},
		"after closed segments":      {7, 1500},
		"first entry of new segment": {4, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			pub := key.Public().(ed25519.PublicKey)
			cfg := StoreConfig{SegmentMaxBytes: int64(tc.maxBytes)}
			st := openTestStore(t, dir, key, cfg, 0, tc.before)
			older, err := os.ReadFile(filepath.Join(dir, headFile))
			if err != nil {
				t.Fatalf("no head before the first entry: %v", err)
			}
			appendBatches(t, st, tc.before, 1)
			st.seg.Close() // the crash: the entry fsync'd, its head not renamed into place
			os.WriteFile(filepath.Join(dir, headFile), older, 0o600)

			st = openTestStore(t, dir, key, cfg, 100, 1)
			st.Close()
			if st.Stats().Breaks != 0 {
				t.Errorf("breaks = %d, want 0", st.Stats().Breaks)
			}
			rep, _ := Verify(dir, pub)
			wantProblems(t, rep)
			if rep.Batches != tc.before+2 {
				t.Errorf("batches = %d, want %d", rep.Batches, tc.before+2)
			}
		})
	}
}
