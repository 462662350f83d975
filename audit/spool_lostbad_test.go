package audit

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLostFileBadLineKeepsTheRest: a line of .lost cut short and ended by
// a newline all the same ("12\n": the write short, then a newline of the
// next append), or one that is none of .lost's, among whole lines. The
// start refused the whole file and emptied it: every batch counted lost
// was forgotten, the whole lines before and after it too. Now the start
// keeps the whole lines, leaves the bad one out and counts it, and never
// empties the file: a second start reads the same runs.
func TestLostFileBadLineKeepsTheRest(t *testing.T) {
	t.Parallel()
	head := (&lostSeqs{runs: []seqRun{{1, 5, 3}}}).encode()
	tail := (&lostSeqs{runs: []seqRun{{9, 9, 4}}}).encode()
	for _, bad := range []string{"12\n", "12 \n", "1\n", "x\n", "7 3\n", "3 4 2 c88d302b x\n", "\n"} {
		data := slices.Concat(head, []byte(bad), tail)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, lostFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		for start := 1; start <= 2; start++ {
			s, err := openSpool(dir, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			first, firstOK := s.lost.records(3)
			last, lastOK := s.lost.records(9)
			if !firstOK || first != 3 || !lastOK || last != 4 {
				t.Errorf("%q, start %d: the whole lines read %d, %v and %d, %v; want 3, true and 4, true", data, start, first, firstOK, last, lastOK)
			}
			if s.lostBad != 1 {
				t.Errorf("%q, start %d: %d bad lines counted, want 1", data, start, s.lostBad)
			}
			s.close()
		}
	}
}
