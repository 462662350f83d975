package collector

import (
	"slices"
	"sort"
)

// chainCursor is where a walk along the chain stands: the stored hash and
// seq of the entry before, and whether it is known. The verifier,
// ScanVerifiedEntries and recovery all judge each entry with it (judge),
// so that what one refuses another cannot pass: the verifier and the scan
// had drifted apart (an entry after a line that is not an entry, or at
// the start of a trail whose first entries were deleted, passed the scan:
// TestScanVerifiedEntriesAgreesWithVerify).
type chainCursor struct {
	prev      [32]byte
	seq       uint64
	prevKnown bool
	// got is what the entry before hashes to (its prev and body), which
	// differs from prev, its stored hash, when either was edited: see
	// judge.
	got [32]byte
	// good and goodSeq are the stored hash and seq of the last entry
	// that passed (vouch), when goodKnown: see follows.
	good      [32]byte
	goodSeq   uint64
	goodKnown bool
	// passedSeqs are the seqs of the entries that passed, and those before
	// the chain went on from a signed digest (resume) or a position:
	// an entry of one of them is a copy (copied).
	passedSeqs seqRanges
}

// entryFaults are what chainCursor.next finds wrong with an entry.
type entryFaults struct {
	unlinked bool // the entry before is not known: nothing vouches for the link
	broken   bool // prev does not name the entry before
	edited   bool // the body does not hash to the stored hash
	gap      bool // seq does not follow the entry before's
}

// none reports whether the entry passed.
func (f entryFaults) none() bool { return f == entryFaults{} }

// judge judges an entry that names prev, is stored with hash stored,
// hashes to got and has seq, against the entry before. Its link holds
// when prev names the entry before by its stored hash or by what it
// hashes to: an edit of the entry before's body leaves its stored hash
// the one the collector wrote, an edit of its stored hash alone leaves
// its content so. Either way the edited entry fails on its own
// (edited), and the entry after, whose link the collector wrote, does
// not fail with it: one edit of a line's hash field made two entries
// fail, the real, signed one after it counted unverified
// (TestEditedHashFailsOneEntry). No one without a preimage of SHA-256
// makes a line that hashes to the prev a real entry names.
func (c *chainCursor) judge(prev, stored, got [32]byte, seq uint64) entryFaults {
	return entryFaults{unlinked: !c.prevKnown, broken: c.prevKnown && prev != c.prev && prev != c.got, edited: got != stored, gap: seq != c.seq+1}
}

// advance goes on from the entry stored with hash stored at seq, which
// hashes to got: the entry after must link to it and have the next seq.
func (c *chainCursor) advance(stored, got [32]byte, seq uint64) {
	c.prev, c.got, c.seq, c.prevKnown = stored, got, seq, true
}

// next is judge, then advance.
func (c *chainCursor) next(prev, stored, got [32]byte, seq uint64) entryFaults {
	f := c.judge(prev, stored, got, seq)
	c.advance(stored, got, seq)
	return f
}

// vouch notes that the entry stored with hash stored at seq passed its
// checks: a later entry that links to it passes its link (follows).
func (c *chainCursor) vouch(stored [32]byte, seq uint64) {
	c.good, c.goodSeq, c.goodKnown = stored, seq, true
	c.passedSeqs.add(seq)
}

// copied reports whether an entry of seq was counted already (or lies
// before where the chain went on from): a copy of a real entry. Two
// lines or more of a segment written in again after themselves counted
// twice: the copy's first entry failed its link, and the next linked to
// it and followed its seq, signed by the collector
// (TestCopiedEntriesCountOnce).
func (c *chainCursor) copied(seq uint64) bool { return c.passedSeqs.has(seq) }

// follows reports whether an entry naming prev at seq links to the last
// entry that passed, the lines between (if any) having failed: a line
// written in before it by someone without the key broke its link to the
// line before, and the entry counted as unverified, its records left out
// by audit verify, tenants top and incident assess
// (TestForgedLineHidesNoRealEntry). Only its prev and seq are judged
// here: its hash and signature are the caller's.
func (c *chainCursor) follows(prev [32]byte, seq uint64) bool {
	return c.goodKnown && prev == c.good && seq == c.goodSeq+1
}

// lose notes that the entry before is not known (a line that is not an
// entry, a segment gone without its digest): the next entry fails.
func (c *chainCursor) lose() { c.prevKnown = false }

// resume goes on from the last entry a signed digest names: a segment
// expired (its file gone) or sealed over a break.
func (c *chainCursor) resume(d *segmentDigest) {
	c.prev, c.prevKnown = parseHash(d.LastHash)
	c.got, c.seq = c.prev, d.LastSeq
	c.good, c.goodSeq, c.goodKnown = c.prev, c.seq, c.prevKnown
	c.passedSeqs.through(d.LastSeq)
}

// seqRanges is a set of seqs as sorted, disjoint ranges, not adjacent:
// one range for a chain read in order, whatever its length, so memory
// grows with the copies and gaps in it, not with its entries.
type seqRanges []seqRange

type seqRange struct{ lo, hi uint64 }

// find returns the index of the first range that ends at seq or after.
func (r seqRanges) find(seq uint64) int {
	return sort.Search(len(r), func(i int) bool { return r[i].hi >= seq })
}

func (r seqRanges) has(seq uint64) bool {
	i := r.find(seq)
	return i < len(r) && r[i].lo <= seq
}

func (r *seqRanges) add(seq uint64) {
	s := *r
	if n := len(s); n > 0 && s[n-1].hi+1 == seq {
		s[n-1].hi = seq // the chain read in order
		return
	}
	i := s.find(seq)
	if i < len(s) && s[i].lo <= seq {
		return
	}
	left := i > 0 && s[i-1].hi+1 == seq
	right := i < len(s) && s[i].lo == seq+1
	switch {
	case left && right:
		s[i-1].hi = s[i].hi
		s = slices.Delete(s, i, i+1)
	case left:
		s[i-1].hi = seq
	case right:
		s[i].lo = seq
	default:
		s = slices.Insert(s, i, seqRange{seq, seq})
	}
	*r = s
}

// through adds every seq from 1 to hi.
func (r *seqRanges) through(hi uint64) {
	if hi == 0 {
		return
	}
	s := *r
	i := s.find(hi + 1) // ranges before i end before hi+1: taken in
	if i < len(s) && s[i].lo <= hi+1 {
		hi = s[i].hi
		i++
	}
	*r = append(seqRanges{{1, hi}}, s[i:]...)
}

// links returns the line's prev and stored hash; ok is false when either
// is not a hash.
func (l *entryLine) links() (prev, stored [32]byte, ok bool) {
	prev, okPrev := parseHash(l.Prev)
	stored, okHash := parseHash(l.Hash)
	return prev, stored, okPrev && okHash
}
