package audit

import (
	"cmp"
	"slices"
)

// seqRun is a run of consecutive batch sequences, lo to hi inclusive.
type seqRun struct{ lo, hi uint64 }

// lostSeqs are the sequences of this sidecar's batches counted lost, as
// sorted runs of consecutive sequences that neither overlap nor touch. A
// directory lost whole is one run, or a few: the batches in it are the
// spool's sequences from its oldest, less those cut in two. Before, it
// was a set of names that kept 4096, and a batch put back past them was
// counted replayed as well as dropped
// (TestSpoolManyBatchesLostThenRestoredCountedOnce). The zero value is
// empty.
type lostSeqs struct {
	runs []seqRun
	cap  int // runs kept at most; 0 means maxLostRuns
}

// maxLostRuns is how many runs of lost sequences the spool remembers
// (16 bytes each): the lowest goes past it, and a batch of it put back
// counts replayed as well as dropped.
const maxLostRuns = 4096

// find returns the index of the first run ending at or after seq.
func (l *lostSeqs) find(seq uint64) int {
	i, _ := slices.BinarySearchFunc(l.runs, seq, func(r seqRun, seq uint64) int { return cmp.Compare(r.hi, seq) })
	return i
}

// has reports whether seq was counted lost.
func (l *lostSeqs) has(seq uint64) bool {
	i := l.find(seq)
	return i < len(l.runs) && l.runs[i].lo <= seq
}

// add notes seq counted lost.
func (l *lostSeqs) add(seq uint64) {
	i := l.find(seq)
	switch {
	case i < len(l.runs) && l.runs[i].lo <= seq:
		return
	case i > 0 && l.runs[i-1].hi+1 == seq && i < len(l.runs) && l.runs[i].lo == seq+1:
		l.runs[i-1].hi = l.runs[i].hi
		l.runs = slices.Delete(l.runs, i, i+1)
	case i > 0 && l.runs[i-1].hi+1 == seq:
		l.runs[i-1].hi = seq
	case i < len(l.runs) && l.runs[i].lo == seq+1:
		l.runs[i].lo = seq
	default:
		l.runs = slices.Insert(l.runs, i, seqRun{seq, seq})
		l.trim()
	}
}

// take forgets seq and reports whether it was counted lost.
func (l *lostSeqs) take(seq uint64) bool {
	i := l.find(seq)
	if i == len(l.runs) || l.runs[i].lo > seq {
		return false
	}
	switch r := l.runs[i]; {
	case r.lo == r.hi:
		l.runs = slices.Delete(l.runs, i, i+1)
	case seq == r.lo:
		l.runs[i].lo++
	case seq == r.hi:
		l.runs[i].hi--
	default:
		l.runs[i].hi = seq - 1
		l.runs = slices.Insert(l.runs, i+1, seqRun{seq + 1, r.hi})
		l.trim()
	}
	return true
}

// trim drops the lowest runs past the cap.
func (l *lostSeqs) trim() {
	if n := len(l.runs) - cmp.Or(l.cap, maxLostRuns); n > 0 {
		l.runs = slices.Delete(l.runs, 0, n)
	}
}
