package audit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLostSeqsRuns: sequences counted lost are kept as runs, merged when
// they touch and cut when one is taken from the middle; past the cap the
// lowest run goes.
func TestLostSeqsRuns(t *testing.T) {
	t.Parallel()
	var l lostSeqs
	for _, seq := range []uint64{5, 3, 4, 9, 7, 8, 1} {
		l.add(seq, 0)
	}
	if want := []seqRun{{1, 1, 0}, {3, 5, 0}, {7, 9, 0}}; !slices.Equal(l.runs, want) {
		t.Fatalf("runs %v, want %v", l.runs, want)
	}
	l.add(6, 0)
	l.add(2, 0)
	if want := []seqRun{{1, 9, 0}}; !slices.Equal(l.runs, want) {
		t.Fatalf("runs %v, want %v", l.runs, want)
	}
	if !l.take(5) || l.take(5) || !l.take(1) || !l.take(9) || l.take(10) {
		t.Fatalf("take: runs %v", l.runs)
	}
	if want := []seqRun{{2, 4, 0}, {6, 8, 0}}; !slices.Equal(l.runs, want) {
		t.Fatalf("runs %v, want %v", l.runs, want)
	}
	for seq, want := range map[uint64]bool{1: false, 2: true, 4: true, 5: false, 6: true, 8: true, 9: false} {
		if l.has(seq) != want {
			t.Errorf("has(%d) = %v, want %v", seq, !want, want)
		}
	}
	l.cap = 2
	l.add(20, 0)
	if want := []seqRun{{6, 8, 0}, {20, 20, 0}}; !slices.Equal(l.runs, want) {
		t.Fatalf("past the cap: runs %v, want %v", l.runs, want)
	}
	l.take(7)
	if want := []seqRun{{8, 8, 0}, {20, 20, 0}}; !slices.Equal(l.runs, want) {
		t.Fatalf("cut past the cap: runs %v, want %v", l.runs, want)
	}
}

// TestLostSeqsKeepRecords: each lost sequence keeps the records its batch
// held; sequences touching merge only when their batches held as many.
func TestLostSeqsKeepRecords(t *testing.T) {
	t.Parallel()
	var l lostSeqs
	for _, a := range []struct {
		seq uint64
		n   int
	}{{1, 100}, {2, 100}, {3, 7}, {5, 100}, {4, 100}} {
		l.add(a.seq, a.n)
	}
	if want := []seqRun{{1, 2, 100}, {3, 3, 7}, {4, 5, 100}}; !slices.Equal(l.runs, want) {
		t.Fatalf("runs %v, want %v", l.runs, want)
	}
	for seq, want := range map[uint64]int{1: 100, 3: 7, 5: 100} {
		if n, ok := l.records(seq); !ok || n != want {
			t.Errorf("records(%d) = %d, %v; want %d", seq, n, ok, want)
		}
	}
	if !l.take(4) {
		t.Fatal("take(4) found nothing")
	}
	if n, ok := l.records(5); !ok || n != 100 {
		t.Errorf("after take(4): records(5) = %d, %v; want 100", n, ok)
	}
}

// TestLostFileReadAtStart: the runs lostFile holds are read at start,
// and the next batch is numbered past them, so that a new batch is never
// taken for one counted lost put back; a file that is none of encode's
// counts nothing lost.
func TestLostFileReadAtStart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file string
		next uint64
	}{
		{"1 5\n9 9\n", 10},
		{"", 1},
		{"5 1\n", 1},                   // backwards
		{"1 5\n6 9\n", 10},             // touching, without sums: one run of counts not known
		{"1 9223372036854775808\n", 1}, // at maxSpoolSeq
		{"1 5\n9 9", 6},                // no last newline: a torn append
		{"1 5\n9 9 3\n3 3 2\n", 10},    // appended: out of order, one sequence
		{"1 5\n9 9\n3 4 2\n", 10},      // out of order, a run over one held: left out, the rest kept
		{"1 5\nx\n", 6},                // none of its lines: left out, the rest kept
		{"1 5 3\n6 9 4\n", 10},         // touching, of other counts
		{"1 5 3\n6 9 3\n", 10},         // touching, without sums
		{"1 5 0\n", 1},                 // a count without a sum is never 0
		{"1 5 3\n9 9\n", 10},           // a line of an older sidecar
		{"1 5 4294967296\n", 1},        // past 32 bits
		{"1 5 3 4\n", 1},               // a sum that does not match: left out
		{"1 5 3 c88d302b\n9 9 0 b8355291\n", 10},
		{"1 5 3 c88d302b\n6 9 3 c674a4b0\n", 10}, // touching, of as many: one run
		{"1 5 3 c88d302b\n9 9 0 00000000\n", 6},  // a sum that does not match: left out
		{"1 5 3 c88d302b x\n", 1},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, lostFile), []byte(c.file), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := openSpool(dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.nextSeq(); got != c.next {
			t.Errorf("lost file %q: next sequence %d, want %d", c.file, got, c.next)
		}
		s.close()
	}
}

// FuzzParseLost: whatever lostFile holds, parseLost takes only runs in
// order, apart and below maxSpoolSeq, leaving out the lines it cannot, and what encode writes of them
// reads back the same.
func FuzzParseLost(f *testing.F) {
	for _, seed := range []string{"", "1 5\n9 9\n", "1 5 3\n6 9 4\n", "1 5 3 c88d302b\n9 9 0 b8355291\n", "5 1\n", "1 5\n6 9\n", "1 9223372036854775807\n", "x\n", "1 5\n9 9"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runs, _ := parseLost(data, nil)
		for i, r := range runs {
			if r.lo > r.hi || r.hi >= maxSpoolSeq || i > 0 && !apart(runs[i-1], r) {
				t.Fatalf("parseLost(%q) took runs %v", data, runs)
			}
		}
		l := lostSeqs{runs: runs}
		again, bad := parseLost(l.encode(), nil)
		if bad != 0 || !slices.Equal(again, runs) {
			t.Fatalf("runs %v encoded read back as %v, %d lines left out", runs, again, bad)
		}
		l.key = lostKey("token")
		again, bad = parseLost(l.encode(), l.key)
		if bad != 0 || !slices.Equal(again, runs) {
			t.Fatalf("runs %v encoded with a key read back as %v, %d lines left out", runs, again, bad)
		}
	})
}

// TestLossAppendedNeverMadeAnew: a loss is appended to lostFile when it
// is found, and read at the next start; when lostFile is gone (an rm -r
// of the directory removed it), none is made, so the removal does not
// fail on a file made behind it.
func TestLossAppendedNeverMadeAnew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s.noteLost(spoolFile{seq: 3, records: 2, ours: true})
	data, err := os.ReadFile(filepath.Join(dir, lostFile))
	if want := string(appendLostLine(nil, seqRun{3, 3, 2}, nil)); err != nil || string(data) != want {
		t.Fatalf("lostFile after a loss: %q, %v; want %q", data, err, want)
	}
	if err := os.Remove(filepath.Join(dir, lostFile)); err != nil {
		t.Fatal(err)
	}
	s.noteLost(spoolFile{seq: 5, records: 2, ours: true})
	if _, err := os.Lstat(filepath.Join(dir, lostFile)); !os.IsNotExist(err) {
		t.Fatalf("lostFile removed, then a loss: %v; want none made", err)
	}
	s.lock.Close() // as a kill: no close to save the runs
	s.d.Close()
	if err := os.WriteFile(filepath.Join(dir, lostFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if n, ok := again.lost.records(3); !ok || n != 2 {
		t.Errorf("after the restart: records(3) = %d, %v; want 2", n, ok)
	}
}

// TestLostLineCutAtEveryByte: a line of lostFile cut short at any byte,
// then a newline (the rest of it lost, what came next run on) or none (a
// torn append), never reads as a count its batch did not hold: read at
// start, it is whole, a count not known or left out, and the whole line
// before it is read (the file is never refused). Before, "7 7 50" cut to
// "7 7 5" read as a batch of 5 records, and a batch of 50 put back under
// sequence 7 counted 5 restored, 45 lost for good that were not. Lines
// with a checksum and lines with a MAC (a sidecar with a token) alike.
func TestLostLineCutAtEveryByte(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{nil, lostKey("token")} {
		lostLineCutAtEveryByte(t, key)
	}
}

func lostLineCutAtEveryByte(t *testing.T, key []byte) {
	head := (&lostSeqs{runs: []seqRun{{1, 5, 3}}, key: key}).encode()
	line := (&lostSeqs{runs: []seqRun{{7, 7, 50}}, key: key}).encode()
	for cut := 0; cut < len(line); cut++ {
		for _, tail := range []string{"\n", ""} {
			data := append(append(slices.Clone(head), line[:cut]...), tail...)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, lostFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := openSpoolKeyed(dir, 1<<20, key)
			if err != nil {
				t.Fatal(err)
			}
			whole := cut == len(line)-1 && tail != ""
			n, lost := s.lost.records(7)
			first, firstOK := s.lost.records(3)
			switch {
			case !firstOK || first != 3:
				t.Errorf("%q: the whole line before it reads %d, %v; want 3", data, first, firstOK)
			case whole && (!lost || n != 50):
				t.Errorf("%q: the whole line reads %d, %v; want 50", data, n, lost)
			case !whole && lost && n != 0:
				t.Errorf("%q: the line cut short reads as a batch of %d records; want it left out or not known", data, n)
			}
			s.close()
		}
	}
}

// TestLostLineCutThenRunOnAtEveryByte: a loss appended to .lost cut short
// with a newline never written (the disk full as the sidecar appended it:
// the write short, the process running on), and the next loss appended
// runs on from it. The start read the two as one line that is none of
// .lost's and refused the whole file: every batch counted lost was
// forgotten, with no word. The whole line ending it is read, and the cut
// one left out. Lines with a checksum and lines with a MAC alike.
func TestLostLineCutThenRunOnAtEveryByte(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{nil, lostKey("token")} {
		lostLineCutThenRunOn(t, key)
	}
}

func lostLineCutThenRunOn(t *testing.T, key []byte) {
	head := (&lostSeqs{runs: []seqRun{{1, 5, 3}}, key: key}).encode()
	line := (&lostSeqs{runs: []seqRun{{7, 7, 50}}, key: key}).encode()
	next := (&lostSeqs{runs: []seqRun{{9, 9, 4}}, key: key}).encode()
	for cut := 0; cut < len(line); cut++ {
		data := append(append(slices.Clone(head), line[:cut]...), next...)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, lostFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := openSpoolKeyed(dir, 1<<20, key)
		if err != nil {
			t.Fatal(err)
		}
		first, firstOK := s.lost.records(3)
		last, lastOK := s.lost.records(9)
		n, lost := s.lost.records(7)
		switch {
		case !firstOK || first != 3:
			t.Errorf("%q: the whole line before the cut one reads %d, %v; want 3, true", data, first, firstOK)
		case !lastOK || last != 4:
			t.Errorf("%q: the whole line run on reads %d, %v; want 4, true", data, last, lastOK)
		case lost && n != 0:
			t.Errorf("%q: the line cut short reads as a batch of %d records; want it left out or not known", data, n)
		}
		s.close()
	}
}
