package audit

import (
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
		l.add(seq)
	}
	if want := []seqRun{{1, 1}, {3, 5}, {7, 9}}; !slices.Equal(l.runs, want) {
		t.Fatalf("runs %v, want %v", l.runs, want)
	}
	l.add(6)
	l.add(2)
	if want := []seqRun{{1, 9}}; !slices.Equal(l.runs, want) {
		t.Fatalf("runs %v, want %v", l.runs, want)
	}
	if !l.take(5) || l.take(5) || !l.take(1) || !l.take(9) || l.take(10) {
		t.Fatalf("take: runs %v", l.runs)
	}
	if want := []seqRun{{2, 4}, {6, 8}}; !slices.Equal(l.runs, want) {
		t.Fatalf("runs %v, want %v", l.runs, want)
	}
	for seq, want := range map[uint64]bool{1: false, 2: true, 4: true, 5: false, 6: true, 8: true, 9: false} {
		if l.has(seq) != want {
			t.Errorf("has(%d) = %v, want %v", seq, !want, want)
		}
	}
	l.cap = 2
	l.add(20)
	if want := []seqRun{{6, 8}, {20, 20}}; !slices.Equal(l.runs, want) {
		t.Fatalf("past the cap: runs %v, want %v", l.runs, want)
	}
	l.take(7)
	if want := []seqRun{{8, 8}, {20, 20}}; !slices.Equal(l.runs, want) {
		t.Fatalf("cut past the cap: runs %v, want %v", l.runs, want)
	}
}
