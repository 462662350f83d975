package collector

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"time"
)

// What a Problem found.
const (
	ProblemHashMismatch   = "hash mismatch"   // entry bytes do not hash to the stored hash: edited
	ProblemChainBreak     = "chain break"     // prev does not name the entry before: deleted, inserted or reordered
	ProblemSequenceGap    = "sequence gap"    // sequence numbers skip or repeat
	ProblemCorruptEntry   = "corrupt entry"   // a line that is not an entry
	ProblemTruncated      = "truncated"       // a partial last line, or fewer entries than the signed head
	ProblemMissingSegment = "missing segment" // a segment file deleted without a retention record
	ProblemMissingDigest  = "missing digest"  // a closed segment without its signed digest
	ProblemDigestMismatch = "digest mismatch" // a closed segment changed after it was signed
	ProblemBadSignature   = "bad signature"   // a digest, head or open segment's entry whose signature does not verify
	ProblemMissingHead    = "missing head"    // the signed head is gone
	ProblemUnsignedTail   = "unsigned tail"   // entries after the signed head: forged, or older than --allow-unsigned-tail
	ProblemRecordedBreak  = "recorded break"  // the collector found entries it could not vouch for at a restart
	ProblemBadRetention   = "bad retention"   // a retention entry that is unsigned, forged or premature
	ProblemRolledBack     = "rolled back"     // the store is behind the head published outside the host
	ProblemUnchecked      = "unchecked"       // a check of a published head that could not be made
	ProblemEmpty          = "empty store"     // no entries at all
	ProblemNotRegular     = "not a regular file"
)

// VerifyOptions are what Verify accepts beyond an intact, signed chain.
type VerifyOptions struct {
	// AllowUnsignedTail accepts entries after the signed head that are
	// younger than this; 0 accepts none. An entry's time is the forger's
	// choice, so each must also lie between the last signed time (the
	// head's, or that of a newer entry the collector signed) and Now,
	// within TailClockSkew either way: a tail dated in the future, or
	// before the head that does not vouch for it, never passes.
	AllowUnsignedTail time.Duration
	// AllowEmpty accepts a store with no entries.
	AllowEmpty bool
	// Published is the newest head published outside the host (etcd, a
	// file); a store behind it was rolled back.
	Published *PublishedHead
	// OtherPublished are the other heads read from where they were
	// published: the store must hold each of them too, since anchors that
	// disagree mean one of them was moved.
	OtherPublished []*PublishedHead
	// ExpectHead is the hex chain hash of an entry the store must hold
	// (a head the operator kept, as `audit verify` prints it).
	ExpectHead string
	// AnchorProblems are what the reader of the published heads found
	// wrong with them or could not check (ProblemRolledBack: a head put
	// back, by its etcd key's count, collector.CheckCount;
	// ProblemUnchecked: etcd's history of the key unreadable): each is a
	// problem of the report, so a check not made never passes in silence.
	// Each concerns no segment (Entry -1).
	AnchorProblems []Problem
	// AnchorUnchecked says what the published heads could not be
	// checked for: the report carries it (VerifyReport.Unchecked) and
	// still passes. A head that carries no count of its etcd key is
	// named in AnchorUncounted instead.
	AnchorUnchecked []string
	// AnchorAbsent names each counted anchor read that held no head (an
	// etcd key, "etcd <key>"): a store whose signed head or entries
	// record that it published heads numbered with the key's count
	// ("counted") is then reported rolled back, as the collector's start
	// refuses it (Store.countedGone): the key was deleted, and a store
	// rolled back beside it would otherwise go unseen.
	AnchorAbsent []string
	// AnchorUncounted names each counted anchor read whose head carries
	// no count of its key: a store whose signed head or entries say
	// "counted" is then reported rolled back, as the collector's start
	// refuses it (Store.countedHead): a collector puts only numbered
	// heads there since, and head.json, which carries none, put there by
	// hand beside a store rolled back to it passed unchecked. Any other
	// store's report carries its Unchecked (VerifyReport.Unchecked), and
	// only that store's: its cause, a collector that did not number its
	// heads, is not a counted store's.
	AnchorUncounted []UncountedHead
	// Now is the clock for AllowUnsignedTail and retention entries (a
	// deletion not yet due by it is bad: RetentionFutureSkew); zero means
	// time.Now.
	Now time.Time
}

// Problem is one thing Verify found wrong. Entry is the 0-based position of
// the entry in its segment, or -1 when the problem concerns the segment.
type Problem struct {
	Segment uint64 `json:"segment"`
	Entry   int    `json:"entry"`
	Seq     uint64 `json:"seq,omitempty"`
	What    string `json:"what"`
	Detail  string `json:"detail"`
}

// String formats p for a person.
func (p Problem) String() string {
	if p.Entry < 0 {
		return fmt.Sprintf("segment %d: %s: %s", p.Segment, p.What, p.Detail)
	}
	return fmt.Sprintf("segment %d entry %d (seq %d): %s: %s", p.Segment, p.Entry, p.Seq, p.What, p.Detail)
}

// VerifyReport summarises a verified store.
type VerifyReport struct {
	Segments int       `json:"segments"` // segment files present
	Expired  int       `json:"expired"`  // segments deleted by retention
	Batches  int       `json:"batches"`
	Records  int       `json:"records"`
	Events   int       `json:"events"`
	First    time.Time `json:"first"` // earliest record time
	Last     time.Time `json:"last"`  // latest record time
	// Unsigned counts entries after the signed head (Verify cannot vouch
	// for them: a problem unless VerifyOptions.AllowUnsignedTail covers them).
	Unsigned int `json:"unsigned"`
	Breaks   int `json:"breaks"` // breaks the collector recorded at restarts
	// Unverified counts the entries that failed their own checks (hash,
	// link, seq, the collector's signature) or lie in a sealed segment
	// that does not match its signed digest: what they say is the
	// forger's word, so they are in none of the counts above, and a
	// break one of them records is not listed (each is reported by the
	// problems it fails). A forged break was counted in Breaks and listed
	// as a recorded break (TestAuditVerifyCountsNoForgedEntry).
	Unverified int `json:"unverified"`
	// KeyRotations counts the rotations of the signing key the chain
	// holds (KindKeyRotation), each verified against the key before it.
	KeyRotations int `json:"key_rotations,omitempty"`
	// HeadSeq and HeadHash name the newest entry the signed head vouches
	// for; keep them (or publish them) to detect a later rollback.
	HeadSeq  uint64    `json:"head_seq"`
	HeadHash string    `json:"head_hash"`
	Problems []Problem `json:"problems"`
	// Unchecked says what of the published heads could not be checked,
	// with no problem found (VerifyOptions.AnchorUnchecked).
	Unchecked []string `json:"unchecked,omitempty"`
	// OmittedProblems counts the problems with entries found after
	// maxEntryProblems of them were listed (one summary problem says so).
	OmittedProblems int `json:"omitted_problems,omitempty"`
	entryProblems   int
}

// maxEntryProblems bounds the problems with entries a report lists: a
// segment of junk lines made one (and held its text) for every line, so
// verify's report and memory grew with the file
// (TestVerifyProblemsBounded). Problems of segments, heads and anchors
// are always listed.
const maxEntryProblems = 1000

// OK reports whether no problem was found.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// verifier walks the chain segment by segment.
type verifier struct {
	dir  string
	keys *keyRing // the store's keys by segment (keyring.go)
	opts VerifyOptions
	rep  VerifyReport
	// counted says the signed head or an entry records that the store
	// published counted heads in etcd (VerifyOptions.AnchorAbsent).
	counted     bool
	digests     map[uint64]*segmentDigest
	sigs        map[uint64]string
	chainCursor // the entry before (checkEntry)
	// hashAt holds the chain hash of the entries a head or digest names
	// (wanted), not of every entry: verify's memory would grow with the
	// store's entries (TestVerifyMemoryBoundedInEntries).
	hashAt map[uint64][32]byte
	wanted map[uint64]bool
	// expect is VerifyOptions.ExpectHead decoded (nil: none, or not a
	// hash), and expectFound whether an entry has it.
	expect      *[32]byte
	expectFound bool
	head        *storeHead
	lastSigned  uint64    // newest entry after the head with its own signature
	signedAt    time.Time // time of that entry
	oldestTail  time.Time // time of the oldest entry after the last signed one
	newestTail  time.Time // time of the newest entry after the last signed one
	expired     map[uint64]bool
	// tailDurable is the newest durable head an entry after the head
	// with its own signature records (entryHeader.DurableHead), and
	// tailDurableFrom that entry: checkHeadLag's.
	tailDurable, tailDurableFrom uint64
	// tailEntries counts the entries after the last signed one (the
	// report's Unsigned): by their seqs, one forged entry numbered far
	// ahead counted as hundreds.
	tailEntries int
	// vouched counts the entries the report's counts hold (checkEntry).
	vouched int
	// unsealed says the sealed segment being read is not the size its
	// signed digest says: its entries are counted by their signatures.
	unsealed bool
	// quiet says problems are not listed, only counted (recount).
	quiet bool
	// newest is the valid retention entry of the highest segment: it
	// accounts for the deletion of every earlier segment as old (see
	// resolveGone), whose own entries went with the segment holding them.
	newest struct {
		segment   uint64
		at        time.Time
		retention time.Duration
	}
	gone []uint64 // segment files absent but with a digest
	// due is the valid retention entry whose deleted segment came due
	// latest: an entry after it dated before that (beyond
	// RetentionClockSkew) says the deletion was premature by the clock
	// that wrote the later entry (checkRetentionClock).
	due struct {
		segment uint64
		seq     uint64
		at      time.Time // the retention entry's time
		bound   time.Time // when its segment came due: its close plus the retention
	}
	// scan receives every line read (ReadStore); nil for none.
	scan *passScan
	// blocks are the buffers readBlocks fills ahead of the checks.
	blocks chan *lineBlock
	times  []time.Time // a batch's record times, reused
}

// Verify checks the store in dir against the public key with no options:
// see VerifyWith.
func Verify(dir string, pub ed25519.PublicKey) (*VerifyReport, error) {
	return VerifyWith(dir, pub, VerifyOptions{})
}

// VerifyWith checks the store in dir against the public key: every entry's
// hash and link, every closed segment against its signed digest, the digest
// chain, signed retention entries for deleted segments, the signed head,
// entries after it, and the head published outside the host. It returns an
// error only when dir cannot be read or holds no store (ErrNoStore);
// tampering is reported in the report's Problems.
func VerifyWith(dir string, pub ed25519.PublicKey, opts VerifyOptions) (*VerifyReport, error) {
	segs, digests, err := listStore(dir)
	if err != nil {
		return nil, err
	}
	return verifyWith(dir, pub, opts, segs, digests, nil)
}

// verifyWith is VerifyWith of the files listed, feeding scan (nil: none)
// every line it reads (ReadStore); an error of scan ends it.
func verifyWith(dir string, pub ed25519.PublicKey, opts VerifyOptions, segs, digests []uint64, scan *passScan) (*VerifyReport, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	v := &verifier{dir: dir, keys: ringOf(pub), opts: opts, digests: map[uint64]*segmentDigest{}, sigs: map[uint64]string{},
		hashAt: map[uint64][32]byte{0: {}}, chainCursor: chainCursor{prevKnown: true}, expired: map[uint64]bool{}, scan: scan}
	if r, err := loadRing(dir, segs, pub); err != nil {
		// Every segment is then checked against pub alone, so nothing
		// signed by a key the rotation names passes.
		v.problem(0, -1, 0, ProblemBadSignature, "%v", err)
	} else {
		v.keys, v.rep.KeyRotations = r, len(r.keys)-1
	}
	if scan != nil {
		scan.keys = v.keys
	}
	v.checkDigests(digests)
	head, headErr := v.readHead()
	v.head = head
	segs, digests = v.relist(head, segs, digests)
	if scan != nil {
		scan.segs = segs
	}
	if sealed := lastOf(nil, digests, nil); head != nil && head.Sealed > sealed {
		v.problem(sealed+1, -1, 0, ProblemMissingDigest, "the signed head says segment %d was sealed, but the digests stop at segment %d: deleted (the segment files left pass for an open one)", head.Sealed, sealed)
	}
	if scan != nil {
		scan.headSeq = 0 // the pass hides entries past the signed head only
		if head != nil {
			scan.headSeq = head.Seq
		}
	}
	v.want(head)
	last := lastOf(segs, digests, head)
	present := map[uint64]bool{}
	for _, n := range segs {
		present[n] = true
	}
	next := uint64(1)
	for _, n := range known(segs, digests, head) {
		v.gap(next, n)
		if present[n] {
			v.rep.Segments++
			v.scan.start(n, trustedEntries(v.digests[n]))
			v.checkSegment(n, n == last)
			if v.scan.failed() {
				return nil, v.scan.err
			}
		} else {
			v.absent(n)
		}
		next = n + 1
	}
	v.resolveGone()
	v.checkHead(head, headErr, len(segs), len(digests))
	v.checkTail()
	v.checkPublished()
	if len(segs)+len(digests) == 0 && !opts.AllowEmpty {
		v.problem(0, -1, 0, ProblemEmpty, "the store in %q holds no entries (use --allow-empty if that is expected)", dir)
	}
	return &v.rep, nil
}

// relist lists the store again when head names a segment past segs and
// digests, or says one was sealed past the digests: a running collector
// rotated and appended to the next segment (or sealed one) between the
// listing and the head's read, and verify reported that segment missing
// and the chain cut (TestRotationDuringVerifyIsNoCut). The digests
// written since are checked as the others were.
func (v *verifier) relist(head *storeHead, segs, digests []uint64) ([]uint64, []uint64) {
	if head == nil || head.Segment <= lastOf(segs, digests, nil) && head.Sealed <= lastOf(nil, digests, nil) {
		return segs, digests
	}
	segs2, digests2, err := listStore(v.dir)
	if err != nil {
		return segs, digests
	}
	checked := make(map[uint64]bool, len(digests))
	for _, n := range digests {
		checked[n] = true
	}
	var added []uint64
	for _, n := range digests2 {
		if !checked[n] {
			added = append(added, n)
		}
	}
	v.checkDigests(added)
	return segs2, digests2
}

// want notes the entries whose hashes are compared at the end: those the
// head, the digests and the published heads name, and the expected head.
func (v *verifier) want(head *storeHead) {
	v.wanted = map[uint64]bool{0: true}
	if head != nil {
		v.wanted[head.Seq] = true
	}
	for _, d := range v.digests {
		v.wanted[d.LastSeq] = true
	}
	for _, p := range append([]*PublishedHead{v.opts.Published}, v.opts.OtherPublished...) {
		if p != nil {
			v.wanted[p.Seq] = true
		}
	}
	if h, ok := parseHash(v.opts.ExpectHead); ok && hex.EncodeToString(h[:]) == v.opts.ExpectHead {
		v.expect = &h
	}
}

// keep records the hash of entry seq when it is wanted, and whether it
// is the expected head.
func (v *verifier) keep(seq uint64, h [32]byte) {
	if v.wanted[seq] {
		v.hashAt[seq] = h
	}
	if v.expect != nil && seq > 0 && h == *v.expect {
		v.expectFound = true
	}
}

func lastOf(segs, digests []uint64, head *storeHead) uint64 {
	var last uint64
	if len(segs) > 0 {
		last = segs[len(segs)-1]
	}
	if len(digests) > 0 {
		last = max(last, digests[len(digests)-1])
	}
	if head != nil {
		last = max(last, head.Segment)
	}
	return last
}

func (v *verifier) problem(seg uint64, entry int, seq uint64, what, format string, args ...any) {
	if v.quiet {
		if entry >= 0 {
			v.rep.entryProblems++
		}
		return
	}
	if entry >= 0 {
		if v.rep.entryProblems++; v.rep.entryProblems > maxEntryProblems {
			if v.rep.OmittedProblems++; v.rep.OmittedProblems == 1 {
				v.rep.Problems = append(v.rep.Problems, Problem{Segment: seg, Entry: -1, What: what,
					Detail: fmt.Sprintf("more than %d problems with entries; the others are counted in omitted_problems, not listed", maxEntryProblems)})
			}
			return
		}
	}
	v.rep.Problems = append(v.rep.Problems, Problem{Segment: seg, Entry: entry, Seq: seq, What: what, Detail: fmt.Sprintf(format, args...)})
}

// tally is what the report counts of entries, as checkSegment keeps it
// before a sealed segment.
type tally struct {
	batches, records, events, vouched int
	first, last                       time.Time
}

// counts is the report's counts of entries now.
func (v *verifier) counts() tally {
	return tally{v.rep.Batches, v.rep.Records, v.rep.Events, v.vouched, v.rep.First, v.rep.Last}
}

// takeBack puts the counts back to before, the entries counted since
// then unverified: a sealed segment whose file does not match its signed
// digest vouches for none of its entries, whose signatures verify does
// not check one by one (that is the digest's work).
func (v *verifier) takeBack(before tally) {
	v.rep.Unverified += v.vouched - before.vouched
	v.rep.Batches, v.rep.Records, v.rep.Events, v.vouched = before.batches, before.records, before.events, before.vouched
	v.rep.First, v.rep.Last = before.first, before.last
}
