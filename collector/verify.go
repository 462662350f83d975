package collector

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// checkDigests verifies each digest's signature and its link to the one
// before.
func (v *verifier) checkDigests(digests []uint64) {
	for _, n := range digests {
		data, err := readRegular(filepath.Join(v.dir, digestName(n)), maxDocBytes)
		if err != nil {
			v.problem(n, -1, 0, ProblemMissingDigest, "cannot read digest: %v", err)
			continue
		}
		d := new(segmentDigest)
		sig, err := openDoc(data, v.keys.at(n), domainDigest, d)
		if err != nil {
			v.problem(n, -1, 0, ProblemBadSignature, "digest %s: %v", digestName(n), err)
			continue
		}
		v.digests[n], v.sigs[n] = d, sig
	}
	for _, n := range digests {
		d, ok := v.digests[n]
		if !ok {
			continue
		}
		if prevSig, ok := v.sigs[n-1]; ok && d.PrevSignature != prevSig {
			v.problem(n, -1, 0, ProblemBadSignature, "digest does not carry the signature of digest %d: digests replaced or reordered", n-1)
		}
		if n == 1 && d.PrevSignature != "" {
			v.problem(n, -1, 0, ProblemMissingDigest, "first digest names a previous digest: earlier segments removed")
		}
	}
}

// known returns the segment numbers any file names, sorted, once each.
func known(segs, digests []uint64, head *storeHead) []uint64 {
	all := append(append([]uint64(nil), segs...), digests...)
	if head != nil && head.Segment > 0 {
		all = append(all, head.Segment)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// gap reports segments from..to-1, of which neither file is left, as one
// problem: a segment file named with a huge number costs one line, not one
// per number skipped.
func (v *verifier) gap(from, to uint64) {
	switch {
	case to <= from:
		return
	case to == from+1:
		v.problem(from, -1, 0, ProblemMissingSegment, "%s and its digest are gone", segName(from))
	default:
		v.problem(from, -1, 0, ProblemMissingSegment, "%s to %s and their digests are gone", segName(from), segName(to-1))
	}
	v.lose()
}

// absent handles a segment number with no segment file.
func (v *verifier) absent(n uint64) {
	d, ok := v.digests[n]
	if !ok {
		v.problem(n, -1, 0, ProblemMissingSegment, "%s and its digest are gone", segName(n))
		v.lose()
		return
	}
	v.gone = append(v.gone, n)
	v.resume(d)
	v.keep(d.LastSeq, v.prev)
}

// resolveGone accepts absent segments covered by a valid retention entry:
// their own, or, for a segment before the newest one expired, that
// newest entry when the segment closed, by its signed digest, longer ago
// than the retention in force then. Retention entries are appended to the
// open segment, so once that segment is itself expired the entries it
// held are gone with it: without the second rule, every verify from a
// second retention period on reported the segments they accounted for
// missing (found by a test of a crash during expiry).
func (v *verifier) resolveGone() {
	for _, n := range v.gone {
		if v.expired[n] {
			v.rep.Expired++
			continue
		}
		if d := v.digests[n]; d != nil && n < v.newest.segment && v.newest.retention > 0 &&
			v.newest.at.Sub(d.End) >= v.newest.retention {
			v.rep.Expired++
			continue
		}
		v.problem(n, -1, 0, ProblemMissingSegment, "%s deleted without a valid retention entry", segName(n))
	}
}

// checkSegment verifies the entries of segment n and, if closed, its
// digest. It streams the file: memory stays bounded whatever its size.
func (v *verifier) checkSegment(n uint64, isLast bool) {
	path := filepath.Join(v.dir, segName(n))
	f, fi, err := openRegular(path)
	if errors.Is(err, os.ErrNotExist) {
		// Listed, then gone: a running collector's retention pass deleted
		// it (after the entry accounting for it, which the open segment,
		// read last, holds). Judged as a segment absent from the list,
		// as a verify listing after the pass would: a verify beside a
		// collector reported it missing (TestRetentionDuringVerifyIsRetention).
		v.rep.Segments--
		v.absent(n)
		return
	}
	if err != nil {
		v.scan.fail(fmt.Errorf("collector: cannot open segment %q: %w", path, err))
		what := ProblemMissingSegment
		if errors.Is(err, ErrNotRegular) {
			what = ProblemNotRegular
		}
		v.problem(n, -1, 0, what, "cannot read: %v", err)
		v.lose()
		return
	}
	defer f.Close()
	d, closed := v.digests[n]
	if closed && fi.Size() != d.Size {
		v.problem(n, -1, 0, ProblemDigestMismatch, "file is %d bytes; the signed digest says %d bytes (%d entries, seq %d..%d)",
			fi.Size(), d.Size, d.Entries, d.FirstSeq, d.LastSeq)
		// No need to hash it: the size already differs. Its entries are
		// counted by their own signatures, as the open segment's are.
		v.unsealed = true
		v.checkEntries(n, f, d)
		v.unsealed = false
		v.afterBreak(n, d)
		return
	}
	h, before := sha256.New(), v.counts()
	entries := v.checkEntries(n, io.TeeReader(f, h), d)
	switch {
	case closed:
		io.Copy(h, f) // the rest after a line that stopped the scan
		if !v.checkAgainstDigest(n, d, h.Sum(nil), entries) {
			v.takeBack(before)
		}
		v.afterBreak(n, d)
	case !isLast:
		v.problem(n, -1, 0, ProblemMissingDigest, "closed segment has no signed digest")
	}
}

// checkEntries checks every line of a segment and returns how many
// complete lines it has. Lines past a break digest's trusted entries are
// read (for the file hash) but not part of the chain. The reading and
// hashing run on a goroutine of their own (readBlocks), ahead of the
// checks: the two SHA-256 passes and the decoding each take about a third
// of a verification (BenchmarkPack in package evidence).
func (v *verifier) checkEntries(n uint64, r io.Reader, d *segmentDigest) int {
	trusted := trustedEntries(d)
	if v.blocks == nil {
		v.blocks = make(chan *lineBlock, readAhead)
		for range readAhead {
			v.blocks <- new(lineBlock)
		}
	}
	out, stop := make(chan *lineBlock, readAhead), make(chan struct{})
	go readBlocks(r, trusted, v.blocks, out, stop)
	if v.scan != nil {
		// A pass decodes the lines on a goroutine of its own too: the
		// decoding and the pass's own work on the records each take
		// as long as the reading and hashing (BenchmarkPack).
		decoded := make(chan *lineBlock, readAhead)
		go v.scan.decodeBlocks(out, decoded, v.blocks, stop)
		out = decoded
	}
	defer func() {
		close(stop)
		for b := range out { // wait for readBlocks to end: r is the caller's again
			v.blocks <- b
		}
	}()
	i := 0
	for b := range out {
		for j := range b.ends {
			v.checkLine(n, i, trusted, b, j)
			i++
		}
		end, partial, err := b.end, b.partial, b.err
		v.blocks <- b
		switch {
		case v.scan.failed():
			return i
		case !end:
			continue
		case err != nil:
			v.scan.fail(fmt.Errorf("collector: cannot read segment %q: %w", filepath.Join(v.dir, segName(n)), err))
			v.problem(n, i, v.seq+1, ProblemCorruptEntry, "%v: not an entry the collector wrote", err)
			v.lose()
		case partial > 0:
			v.problem(n, i, v.seq+1, ProblemTruncated, "last line of %d bytes has no newline: segment cut mid-entry", partial)
		}
		return i
	}
	return i
}

// checkLine checks line j of block b, line i of segment n, then gives it
// to the scan, marked verified when the entry passed its own checks.
func (v *verifier) checkLine(n uint64, i, trusted int, b *lineBlock, j int) {
	var le *lineEntry
	if v.scan != nil {
		le = &b.entries[j]
	}
	ok := false
	if trusted < 0 || i < trusted {
		ok = v.checkEntry(n, i, b.line(j), b.hashes[j], b.hashed[j], le)
	}
	if le != nil && !v.scan.failed() {
		le.verified = ok
		if err := v.scan.emit(i, le); err != nil {
			v.scan.fail(err)
		}
	}
}

// afterBreak reports a segment sealed over a break and continues the chain
// from its last trusted entry.
func (v *verifier) afterBreak(n uint64, d *segmentDigest) {
	if d.Break == "" {
		return
	}
	v.rep.Breaks++
	v.problem(n, -1, d.LastSeq, ProblemRecordedBreak, "at a restart the collector found %d entries after seq %d it could not vouch for (%s); they are excluded from the chain",
		d.Entries-d.TrustedEntries, d.LastSeq, d.Break)
	v.resume(d)
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

// checkAgainstDigest reports whether sealed segment n matches its signed
// digest d, and the problems when not.
func (v *verifier) checkAgainstDigest(n uint64, d *segmentDigest, sum []byte, entries int) bool {
	problems := len(v.rep.Problems) + v.rep.OmittedProblems
	if hex.EncodeToString(sum) != d.SHA256 {
		v.problem(n, -1, 0, ProblemDigestMismatch, "file has SHA-256 %x; the signed digest says %s (%d entries, seq %d..%d)",
			sum[:8], d.SHA256[:16], d.Entries, d.FirstSeq, d.LastSeq)
	}
	if entries < d.Entries {
		v.problem(n, -1, 0, ProblemTruncated, "%d entries, the signed digest says %d", entries, d.Entries)
	}
	if h, ok := v.hashAt[d.LastSeq]; !ok || hex.EncodeToString(h[:]) != d.LastHash {
		v.problem(n, -1, d.LastSeq, ProblemChainBreak, "entry %d does not have the hash the signed digest names", d.LastSeq)
	}
	return len(v.rep.Problems)+v.rep.OmittedProblems == problems
}

// checkEntry verifies one entry's link, hash and sequence and counts it;
// got is the line's chain hash when hashed (readBlocks computed it), and
// le the line as a pass decoded it (nil: none). It reports whether the
// entry passed; for a pass that marks records (Pass.MarkVerified), only
// when it also carries the collector's signature of its hash, which no
// one without the key can make for an edited or appended entry.
func (v *verifier) checkEntry(n uint64, i int, line []byte, got [32]byte, hashed bool, le *lineEntry) bool {
	var l entryLine
	var b verifyBody
	problems := v.rep.entryProblems
	if err := decodeEntryLine(line, &l); err != nil {
		v.problem(n, i, v.seq+1, ProblemCorruptEntry, "not an entry: %v", err)
		v.lose()
		return false
	}
	prev, stored, ok := l.links()
	if errBody := v.decodeVerifyBody(le, l.Body, &b); !ok || errBody != nil {
		v.problem(n, i, v.seq+1, ProblemCorruptEntry, "malformed prev, hash or body")
		v.lose()
		return false
	}
	if !hashed {
		got = chainHash(prev, l.Body)
	}
	f := v.judge(prev, stored, got, b.Seq)
	if f.broken {
		v.problem(n, i, b.Seq, ProblemChainBreak, "prev %x... does not match the hash %x... of the entry before", prev[:6], v.prev[:6])
	}
	if f.edited {
		v.problem(n, i, b.Seq, ProblemHashMismatch, "content hashes to %x..., stored hash is %x...", got[:6], stored[:6])
	}
	if f.gap {
		v.problem(n, i, b.Seq, ProblemSequenceGap, "seq %d follows seq %d", b.Seq, v.seq)
	}
	v.advance(stored, b.Seq)
	v.keep(b.Seq, stored)
	_, closed := v.digests[n]
	sealed := closed && !v.unsealed
	signed := false
	if !sealed || b.Kind == KindBreak || v.scan != nil && v.scan.p.MarkVerified || v.head != nil && b.Seq > v.head.Seq {
		signed = l.signedBy(v.keys.at(n), stored) // once: ed25519 costs what the rest of the entry's checks do
	}
	v.checkTailEntry(&b, signed)
	v.checkSignature(n, i, b.Seq, closed || signed)
	// A sealed segment's digest vouches for its entries (checkSegment
	// takes their counts back when its file does not hash to it; one not
	// of its size is counted entry by entry, unsealed); any other entry
	// must carry the collector's signature to be counted, a break
	// always, since its problem is listed at once.
	passed := v.rep.entryProblems == problems // an entry after a segment gone unlinked is counted: signed or sealed, the collector wrote it
	v.count(n, i, &b, passed && (signed || sealed), passed && signed)
	return !f.unlinked && v.rep.entryProblems == problems &&
		(v.scan == nil || !v.scan.p.MarkVerified || signed)
}

// decodeVerifyBody decodes what Verify counts of a line; a batch body the
// store wrote goes through decodeBatchBody (see decodeBody), or comes
// from le, the pass's scan that decoded it already (the two fast decoders
// accept the same bodies: FuzzDecodeBatchBody).
func (v *verifier) decodeVerifyBody(le *lineEntry, body []byte, b *verifyBody) error {
	b.times = v.times[:0]
	defer func() { v.times = b.times[:0] }()
	if le != nil && le.fast {
		eb := &le.body
		b.entryHeader = eb.entryHeader
		for j := range eb.Records {
			b.times = append(b.times, eb.Records[j].Time)
		}
		return nil
	}
	var eb entryBody
	if !isKind(body, KindBatch) || !decodeBatchTimes(body, &eb, &b.times) {
		b.times = b.times[:0]
		return json.Unmarshal(body, b)
	}
	b.entryHeader = eb.entryHeader
	return nil
}

// verifyBody decodes what Verify counts, without whole records.
type verifyBody struct {
	entryHeader
	Records []struct {
		Time time.Time `json:"time"`
	} `json:"records"`
	Events []json.RawMessage `json:"events"`
	retentionFields
	Reason string `json:"reason"`
	// times are the records' times when a fast decoder read the body
	// (Records is then empty).
	times []time.Time
}

// count counts entry i of segment n in the report when vouched (its
// break's problem only when signed), or in Unverified. Its retention,
// key rotation and clock are checked either way: those only add problems.
func (v *verifier) count(n uint64, i int, b *verifyBody, vouched, signed bool) {
	v.checkRetentionClock(n, i, b)
	v.counted = v.counted || b.Counted
	if !vouched {
		v.rep.Unverified++
	} else {
		v.vouched++
	}
	switch b.Kind {
	case KindBatch:
		if !vouched {
			return
		}
		v.rep.Batches++
		v.rep.Records += len(b.Records) + len(b.times)
		v.rep.Events += len(b.Events) // the alert events detection stored with the batch (issue 14)
		for _, r := range b.Records {
			v.span(r.Time)
		}
		for _, t := range b.times {
			v.span(t)
		}
	case KindEvents:
		if vouched {
			v.rep.Events += len(b.Events)
		}
	case KindRetention:
		v.checkRetention(n, i, b)
	case KindKeyRotation:
		if i != 0 || !v.keys.opens(n) {
			v.problem(n, i, b.Seq, ProblemBadSignature, "a key rotation that does not open its segment, or that the store's keys do not hand over at: no key change is taken from it")
		}
	case KindBreak:
		if d, ok := v.digests[b.Segment]; signed && (!ok || d.Break == "") {
			// Not reported through a digest (the head named entries no
			// segment held): report it here.
			v.rep.Breaks++
			v.problem(n, i, b.Seq, ProblemRecordedBreak, "at a restart the collector found: %s", b.Reason)
		}
	}
}

// span widens the report's record times to t.
func (v *verifier) span(t time.Time) {
	if v.rep.First.IsZero() || t.Before(v.rep.First) {
		v.rep.First = t
	}
	if t.After(v.rep.Last) {
		v.rep.Last = t
	}
}

// checkRetention accepts a retention entry only when it is signed by the
// collector's key and the segment it expires had closed, by its signed
// digest, longer ago than the retention period in force (issue 21, item 2).
func (v *verifier) checkRetention(n uint64, i int, b *verifyBody) {
	d, ok := v.digests[b.Segment]
	switch {
	case !b.retentionFields.verify(v.keys.at(n), b.Segment, b.LastHash, b.Time):
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d is not signed by the collector's key", b.Segment)
	case !ok:
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d, which has no valid signed digest", b.Segment)
	case v.sigs[b.Segment] != b.DigestSignature || d.LastHash != b.LastHash:
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d does not name its signed digest", b.Segment)
	case b.Time.Sub(d.End) < time.Duration(b.RetentionSeconds)*time.Second || b.RetentionSeconds <= 0:
		v.problem(n, i, b.Seq, ProblemBadRetention, "segment %d closed at %s, less than the retention of %ds before its deletion at %s",
			b.Segment, d.End.Format(time.RFC3339), b.RetentionSeconds, b.Time.Format(time.RFC3339))
	case !v.dueByOwnClock(n, i, b, d): // reported there
	default:
		v.expired[b.Segment] = true
		if bound := d.End.Add(time.Duration(b.RetentionSeconds) * time.Second); bound.After(v.due.bound) {
			v.due.segment, v.due.seq, v.due.at, v.due.bound = b.Segment, b.Seq, b.Time, bound
		}
		if b.Segment >= v.newest.segment {
			v.newest.segment, v.newest.at, v.newest.retention = b.Segment, b.Time, time.Duration(b.RetentionSeconds)*time.Second
		}
	}
}

// RetentionFutureSkew is how far a retention entry may be dated after
// verify's own clock (VerifyOptions.Now): two hosts' clocks kept by NTP
// differ by far less.
const RetentionFutureSkew = 5 * time.Minute

// dueByOwnClock reports whether retention entry b, for the segment of
// digest d, is due by verify's own clock, and reports it bad when not: a
// collector whose clock stays ahead deleted segments early under entries
// that, dated by that clock, looked due, with no entry after them dated
// before (checkRetentionClock finds a clock put right). The segment's
// records must be older than the retention by verify's clock, and the
// entry no more than RetentionFutureSkew in its future
// (TestRetentionByClockStillAheadFound).
func (v *verifier) dueByOwnClock(n uint64, i int, b *verifyBody, d *segmentDigest) bool {
	now, latest := v.opts.Now.UTC(), v.opts.Now.Add(RetentionFutureSkew)
	due := d.End.Add(time.Duration(b.RetentionSeconds) * time.Second)
	switch {
	case due.After(latest):
		v.problem(n, i, b.Seq, ProblemBadRetention, "segment %d closed at %s and came due under the retention of %ds at %s, after verify's clock (%s): deleted early by a collector clock ahead (or verify's own clock is behind)",
			b.Segment, d.End.UTC().Format(time.RFC3339), b.RetentionSeconds, due.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	case b.Time.After(latest):
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d is dated %s, more than %s after verify's clock (%s): the collector's clock is ahead (or verify's own clock is behind)",
			b.Segment, b.Time.UTC().Format(time.RFC3339), RetentionFutureSkew, now.Format(time.RFC3339))
	default:
		return true
	}
	return false
}

// RetentionClockSkew is how far an entry after a retention entry may be
// dated before the deleted segment came due (a clock stepped back a
// little after a pass that found a segment just due).
const RetentionClockSkew = time.Minute

// checkRetentionClock reports the retention entry of v.due as premature
// when b, an entry after it in the chain, is dated before its segment
// came due: the collector's clock was ahead when it deleted the segment
// (set ahead, then put right), and the retention entry, dated by that
// clock, only looked due. Each retention entry is reported once.
func (v *verifier) checkRetentionClock(n uint64, i int, b *verifyBody) {
	if v.due.bound.IsZero() || !b.Time.Before(v.due.bound.Add(-RetentionClockSkew)) {
		return
	}
	v.problem(n, i, v.due.seq, ProblemBadRetention, "segment %d was deleted by a retention entry dated %s, but entry seq %d after it is dated %s, before the segment came due at %s: the collector's clock was ahead when it deleted the segment",
		v.due.segment, v.due.at.UTC().Format(time.RFC3339), b.Seq, b.Time.UTC().Format(time.RFC3339), v.due.bound.UTC().Format(time.RFC3339))
	v.due.bound = time.Time{}
}

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
