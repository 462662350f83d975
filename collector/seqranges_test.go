package collector

import (
	"math/rand/v2"
	"testing"
)

// TestSeqRanges: seqRanges holds what a plain set holds, as disjoint,
// sorted, non-adjacent ranges.
func TestSeqRanges(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var r seqRanges
		set := map[uint64]bool{}
		for op := 0; op < 60; op++ {
			if rng.IntN(10) == 0 {
				hi := uint64(rng.IntN(80))
				r.through(hi)
				for s := uint64(1); s <= hi; s++ {
					set[s] = true
				}
			} else {
				s := uint64(1 + rng.IntN(100))
				r.add(s)
				set[s] = true
			}
			for i := range r {
				if r[i].lo > r[i].hi || i > 0 && r[i-1].hi+1 >= r[i].lo {
					t.Fatalf("round %d: ranges %v not disjoint, sorted and apart", round, r)
				}
			}
			for s := uint64(0); s <= 101; s++ {
				if r.has(s) != set[s] {
					t.Fatalf("round %d: has(%d) = %v, want %v (%v)", round, s, r.has(s), set[s], r)
				}
			}
		}
	}
}
