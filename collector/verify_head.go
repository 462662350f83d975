// Verify's checks of the chain's end: the signed head, its lag behind durable heads, the unsigned
// tail after it, and the head published outside the store.

package collector

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

func (v *verifier) readHead() (*storeHead, error) { return openHeadFile(v.dir, v.keys) }

// checkHead compares the chain's end with the signed head. A store of
// segments or digests without a valid head.json (none, something other
// than a regular file there, or a file empty, unreadable as a signed
// head or not signed by the store's key) lost it: a collector writes it
// before its first segment and only replaces it by a rename of a file
// written through, so no crash leaves that (badHead.whyNoCrash). Before,
// a store whose segments retention had all deleted, its digests left,
// was reported nothing for it, and the problem said only that the head
// was gone (TestVerifySaysWhyTheHeadIsMissing); an invalid head was
// reported as a bad signature and no more (TestVerifySaysWhyTheHeadIsInvalid).
func (v *verifier) checkHead(h *storeHead, err error, segs, digests int) {
	var bad *badHead
	switch {
	case errors.As(err, &bad) && segs+digests > 0:
		kind := ProblemBadSignature
		if bad.gone {
			kind = ProblemMissingHead
		}
		v.problem(0, -1, 0, kind, "%s, but the store holds %d segment files and %d digests: %s, and the newest entries may have been cut with it; "+
			"compare the store with a published head (--published-head, --etcd or --expect-head)", bad.what, segs, digests, bad.whyNoCrash())
		return
	case bad != nil && bad.gone:
		return // an empty store
	case err != nil:
		v.problem(0, -1, 0, ProblemBadSignature, "%v", err)
		return
	}
	if v.seq < h.Seq {
		v.problem(h.Segment, -1, h.Seq, ProblemTruncated, "chain ends at seq %d but the signed head names seq %d: newest entries removed", v.seq, h.Seq)
		return
	}
	if got, ok := v.hashAt[h.Seq]; !ok || hex.EncodeToString(got[:]) != h.Hash {
		v.problem(h.Segment, -1, h.Seq, ProblemChainBreak, "entry %d does not have the hash the signed head names", h.Seq)
		return
	}
	v.rep.HeadSeq, v.rep.HeadHash = h.Seq, h.Hash
	v.rep.Unsigned = v.tailEntries
	v.checkHeadLag(h)
}

// checkHeadLag reports a head.json older than the newest durable head an
// entry after it records (Store.checkHeadLag, which refuses it at the
// start): no crash leaves that, an older copy was put back. A collector
// running beside verify signs a durable head after verify read head.json
// and then writes entries recording it, so the head is read again first:
// the collector's own head is never older than what its entries record.
func (v *verifier) checkHeadLag(h *storeHead) {
	if v.tailDurable <= h.Seq {
		return
	}
	if now, err := v.readHead(); err == nil && now.Seq >= v.tailDurable {
		return
	}
	v.problem(h.Segment, -1, h.Seq, ProblemRolledBack, "%s names seq %d (signed %s), but entry %d records that the head naming seq %d was written durably before it: "+
		"a crash leaves %s at that head or a newer one, never older, so an older copy of it was put back, %d entries behind that head, and the newest entries may have been cut with it; "+
		"compare the store with a published head (--published-head, --etcd or --expect-head)",
		headFile, h.Seq, h.Time.UTC().Format(time.RFC3339), v.tailDurableFrom, v.tailDurable, headFile, v.tailDurable-h.Seq)
}

// checkTailEntry notes entries after the signed head: one the collector
// signed itself (written just before a crash, the head not yet renamed) is
// vouched for, with everything before it; others are the unsigned tail.
func (v *verifier) checkTailEntry(b *verifyBody, signed bool) {
	if v.head == nil || b.Seq <= v.head.Seq {
		return
	}
	if signed {
		v.lastSigned, v.signedAt, v.oldestTail, v.newestTail, v.tailEntries = b.Seq, b.Time, time.Time{}, time.Time{}, 0
		if b.DurableHead > v.tailDurable {
			v.tailDurable, v.tailDurableFrom = b.DurableHead, b.Seq
		}
		return
	}
	v.tailEntries++
	if v.oldestTail.IsZero() || b.Time.Before(v.oldestTail) {
		v.oldestTail = b.Time
	}
	if b.Time.After(v.newestTail) {
		v.newestTail = b.Time
	}
}

// checkSignature checks the collector's signature of an entry up to the
// signed head in a segment no signed digest covers (the open one): the
// chain links and hashes without it, so a signature removed or replaced
// there went unreported while audit query flagged the entry's records
// unverified (TestVerifyFindsSignatureEditedInOpenSegment). A digest's
// file hash covers the signatures of a sealed segment, and entries past
// the head are checkTailEntry's.
func (v *verifier) checkSignature(n uint64, i int, seq uint64, sealedOrSigned bool) {
	if sealedOrSigned || v.head == nil || seq > v.head.Seq {
		return
	}
	v.problem(n, i, seq, ProblemBadSignature, "entry carries no valid signature of the collector's key, which signs every entry it writes: its signature was removed or replaced")
}

// checkTail reports entries after the signed head: anyone who can write a
// segment can append a correctly hashed entry without the key (issue 21,
// item 1). Only a tail AllowUnsignedTail covers passes (tailAllowed).
func (v *verifier) checkTail() {
	if v.rep.Unsigned == 0 || v.tailAllowed() {
		return
	}
	last := max(v.rep.HeadSeq, v.lastSigned)
	v.problem(0, -1, last+1, ProblemUnsignedTail, "%d entries after seq %d, the last one signed (dated %s to %s, signed %s): appended without the signing key",
		v.rep.Unsigned, last, v.oldestTail.UTC().Format(time.RFC3339), v.newestTail.UTC().Format(time.RFC3339),
		v.lastSignedTime().UTC().Format(time.RFC3339))
}

// TailClockSkew is how far an unsigned tail entry may be dated after the
// verifier's clock, or before the last signed time (a clock stepped back,
// an entry dated just before the head was signed).
const TailClockSkew = 5 * time.Second

// tailAllowed reports whether AllowUnsignedTail covers the unsigned tail.
// The time in an entry is the forger's to choose: judged alone, one dated
// in the future stays young forever. So every entry must also be dated no
// later than now and no earlier than the last signed time, which the
// forger cannot move; the collector re-signs its head every --sign-every,
// so a forged entry falls behind the head within that.
func (v *verifier) tailAllowed() bool {
	allow, now := v.opts.AllowUnsignedTail, v.opts.Now
	return allow > 0 && now.Sub(v.oldestTail) < allow &&
		!v.newestTail.After(now.Add(TailClockSkew)) &&
		!v.oldestTail.Before(v.lastSignedTime().Add(-TailClockSkew))
}

// lastSignedTime is the time of the newest signed statement: the head, or
// an entry after it that the collector signed.
func (v *verifier) lastSignedTime() time.Time {
	if v.head == nil || v.signedAt.After(v.head.Time) {
		return v.signedAt
	}
	return v.head.Time
}

// checkPublished compares the chain with the head published outside the
// host and the head the operator expects (issue 21, item 3).
func (v *verifier) checkPublished() {
	v.rep.Problems = append(v.rep.Problems, v.opts.AnchorProblems...)
	v.rep.Unchecked = slices.Clip(v.opts.AnchorUnchecked)
	counted := v.counted || v.head != nil && v.head.Counted
	if counted {
		for _, where := range v.opts.AnchorAbsent {
			v.problem(0, -1, 0, ProblemRolledBack, "%s holds no head, but this store's signed head or entries record that it published its heads there, numbered with the key's count: "+
				"the key was deleted, so a store rolled back beside it is not found there (the collector's start refuses the same until --accept-rollback records it)", where)
		}
	}
	for _, u := range v.opts.AnchorUncounted {
		if !counted {
			v.rep.Unchecked = append(v.rep.Unchecked, u.Unchecked)
			continue
		}
		v.problem(0, -1, 0, ProblemRolledBack, "the head at %s %s (the collector's start refuses the same until --accept-rollback records it)", u.Where, uncounted)
	}
	for _, p := range append([]*PublishedHead{v.opts.Published}, v.opts.OtherPublished...) {
		if p != nil {
			v.expectAt(p.Seq, p.Hash, fmt.Sprintf("the head published at %s", p.Time.UTC().Format(time.RFC3339)))
		}
	}
	if e := v.opts.ExpectHead; e != "" {
		if v.expectFound {
			return
		}
		v.problem(0, -1, 0, ProblemRolledBack, "no entry has the expected head hash %s: the store was rolled back, emptied or replaced", e)
	}
}

func (v *verifier) expectAt(seq uint64, hash, what string) {
	if v.seq < seq {
		v.problem(0, -1, seq, ProblemRolledBack, "chain ends at seq %d but %s names seq %d: the store was rolled back or its newest entries removed", v.seq, what, seq)
		return
	}
	if h, ok := v.hashAt[seq]; ok && hex.EncodeToString(h[:]) != hash {
		v.problem(0, -1, seq, ProblemRolledBack, "entry %d is not the one %s names: the store was replaced", seq, what)
	}
}
