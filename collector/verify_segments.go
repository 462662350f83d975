// Verify's walk of the segments: each digest's signature and link, segments absent or covered by
// retention, and every entry of a segment checked for link, hash, sequence and signature and
// counted.

package collector

import (
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
	h, from := sha256.New(), *v
	from.passedSeqs = slices.Clone(v.passedSeqs) // added to in place
	entries := v.checkEntries(n, io.TeeReader(f, h), d)
	switch {
	case closed:
		io.Copy(h, f) // the rest after a line that stopped the scan
		if !v.checkAgainstDigest(n, d, h.Sum(nil), entries) {
			v.recount(n, f, d, &from)
		}
		v.afterBreak(n, d)
	case !isLast:
		v.problem(n, -1, 0, ProblemMissingDigest, "closed segment has no signed digest")
	}
}

// recount counts the entries of sealed segment n again, its file of the
// size its signed digest d says but not hashing to it, by their own
// signatures, as those of a segment not of that size are (unsealed):
// from is the verifier before the segment was read. The digest vouched
// for them all, so none were counted: one byte changed anywhere in a
// segment hid every real entry of it from the report's counts, and a
// signed break in it was counted both in Breaks and in Unverified
// (TestSealedSegmentEditedCountsEntriesOnce). The problems listed are
// the first read's; the second lists none.
func (v *verifier) recount(n uint64, f *os.File, d *segmentDigest, from *verifier) {
	listed := v.rep
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		v.takeBack(from.counts())
		return
	}
	*v = *from
	v.quiet, v.unsealed, v.scan = true, true, nil
	v.checkEntries(n, f, d)
	v.quiet, v.unsealed, v.scan = false, false, from.scan
	v.rep.Problems, v.rep.entryProblems, v.rep.OmittedProblems = listed.Problems, listed.entryProblems, listed.OmittedProblems
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
	f, follows := v.judge(prev, stored, got, b.Seq), v.follows(prev, b.Seq)
	if f.broken {
		v.problem(n, i, b.Seq, ProblemChainBreak, "prev %x... does not match the hash %x... of the entry before", prev[:6], v.prev[:6])
	}
	if f.edited {
		v.problem(n, i, b.Seq, ProblemHashMismatch, "content hashes to %x..., stored hash is %x...", got[:6], stored[:6])
	}
	if f.gap {
		v.problem(n, i, b.Seq, ProblemSequenceGap, "seq %d follows seq %d", b.Seq, v.seq)
	}
	copied := v.copied(b.Seq)
	if copied {
		v.problem(n, i, b.Seq, ProblemSequenceGap, "seq %d is that of an entry counted already: a copy", b.Seq)
	}
	v.advance(stored, got, b.Seq)
	v.keep(b.Seq, stored)
	_, closed := v.digests[n]
	sealed := closed && !v.unsealed
	signed := false
	if !sealed || b.Kind == KindBreak || v.scan != nil && v.scan.p.MarkVerified || v.head != nil && b.Seq > v.head.Seq {
		signed = l.signedBy(v.keys.at(n), stored) // once: ed25519 costs what the rest of the entry's checks do
	}
	v.checkTailEntry(&b, signed)
	linkProblems := v.rep.entryProblems
	v.checkSignature(n, i, b.Seq, closed || signed)
	// A sealed segment's digest vouches for its entries (checkSegment
	// takes their counts back when its file does not hash to it; one not
	// of its size is counted entry by entry, unsealed); any other entry
	// must carry the collector's signature to be counted, a break
	// always, since its problem is listed at once. An entry that links
	// to the last one that passed, past lines that failed, passes its
	// link: a forged line written in before it is not its fault
	// (chainCursor.follows); its chain break is still listed.
	// An entry after a segment gone unlinked is counted: signed or
	// sealed, the collector wrote it.
	passed := !copied && (v.rep.entryProblems == problems ||
		v.rep.entryProblems == linkProblems && !f.edited && follows)
	// The last entry that passed is one the caller believes: for a pass
	// that marks records, a signed one only (a forged line in a sealed
	// segment, its digest not yet judged, hid the real entry after it
	// from tenants top: TestForgedLineInSealedSegmentHidesNoRealEntry).
	if passed && (signed || sealed && (v.scan == nil || !v.scan.p.MarkVerified)) {
		v.vouch(stored, b.Seq)
	}
	v.count(n, i, &b, passed && (signed || sealed), passed && signed)
	return (!f.unlinked || follows) && passed &&
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
