// Recovery's scan of the closed segments: every digest checked as verify checks it, segments and
// digests contiguous from the oldest retention kept, no hole after the first segment present, gaps
// named in bounded errors, and the batch ids of closed segments recorded for deduplication.

package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// expiredAccounted refuses a store whose oldest segment files are gone,
// their digests left, where the trail does not account for each: a
// retention entry naming it, or the newest retention entry read when
// the segment had closed, by its signed digest, longer before it than
// the retention then (verify's rule: the entries of a segment that
// expired in turn went with it); or it was due under the retention in
// force now, as a crash of retention on a full disk leaves it (the
// segment deleted first, its entry not yet written). A segment deleted
// by hand at the front looked like retention at the start, and only
// verify told (TestStartRefusesOldestSegmentsDeletedByHand). It reads
// no file: the retention entries are those of the segments the start
// reads anyway (collectBatchIDs, the open segment's walk), the digests
// those checkDigests read.
func (s *Store) expiredAccounted(segs, digests []uint64, checked map[uint64]*segmentDigest) error {
	now, newest := s.cfg.Now(), &s.newestRetention
	var gone []uint64
	for _, n := range digests {
		if len(segs) > 0 && n >= segs[0] {
			break // holes after a segment kept are checkContiguous's
		}
		d := checked[n]
		switch _, named := s.retained[n]; {
		case named:
		case d != nil && n < newest.segment && newest.period > 0 && newest.at.Sub(d.End) >= newest.period:
		case d != nil && s.cfg.Retention > 0 && now.Sub(d.End) >= s.cfg.Retention:
		default:
			gone = append(gone, n)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	due := "retention is off now"
	if s.cfg.Retention > 0 {
		due = fmt.Sprintf("not due under the retention of %s now", s.cfg.Retention)
	}
	return fmt.Errorf("collector: store %q: the oldest segments are gone with no retention entry in the trail for them (%s): %s (their digests are left); retention writes a signed entry naming each segment before it deletes it, so these were deleted otherwise (by hand, or by an intruder): run audit verify",
		s.dir, due, segRanges(gone))
}

// segRanges names the segment files of ns (sorted) as ranges, up to
// maxGapsNamed of them.
func segRanges(ns []uint64) string {
	var l someNamed
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if i == j {
			l.add(segName(ns[i]))
		} else {
			l.add(segName(ns[i]) + " to " + segName(ns[j]))
		}
		i = j + 1
	}
	return l.join(", ")
}

// someOf names the first maxGapsNamed numbers of ns and how many more
// there are: segment files planted by the thousand made an error of
// the start name every one (TestStartNamesManyOpenSegmentsBounded).
func someOf(ns []uint64) string {
	var l someNamed
	for i, n := range ns {
		if i == maxGapsNamed {
			l.more = len(ns) - i // not formatted
			break
		}
		l.add(strconv.FormatUint(n, 10))
	}
	return l.join(", ")
}

// maxGapsNamed bounds what an error of the start names (someNamed): a
// digest planted with a huge number costs one range, not a line per
// number skipped, and files planted by the thousand a few names.
const maxGapsNamed = 8

// someNamed is what an error of the start names, segments or ranges of
// them (segRanges, someOf, checkContiguous's gaps, holes): the first
// maxGapsNamed, then how many more. Each of the four bounded its list
// itself before, three of them saying "and more" without a number.
type someNamed struct {
	names []string
	more  int
}

func (l *someNamed) add(name string) {
	if len(l.names) == maxGapsNamed {
		l.more++
		return
	}
	l.names = append(l.names, name)
}

func (l *someNamed) empty() bool { return len(l.names) == 0 }

// join joins the names with sep, and says how many more there are.
func (l *someNamed) join(sep string) string {
	s := strings.Join(l.names, sep)
	if l.more > 0 {
		s += fmt.Sprintf("%sand %d more", sep, l.more)
	}
	return s
}

// checkDigests checks every digest of the store as verify does: signed
// by the key its rotations give its segment, and carrying the signature
// of the digest before it; it returns them by segment, for
// collectBatchIDs. The newest alone (loadLastDigest) took a store whose
// key was swapped without a rotation, once the new key had sealed a
// segment: every digest before it failed, with either key, in verify
// only (TestKeySwappedWithoutRotationFails). The start read and checked
// the signature of every digest of a segment present already, to take
// its batch ids, and went on past one that failed; so the check costs
// only the digests of segments retention deleted
// (BenchmarkOpenStore1000Segments, BenchmarkCheckDigests1000Segments).
func (s *Store) checkDigests(digests []uint64) (map[uint64]*segmentDigest, error) {
	out := make(map[uint64]*segmentDigest, len(digests))
	var prevSig string
	for i, n := range digests {
		d, sig, err := s.readDigest(n)
		if err != nil {
			return nil, fmt.Errorf("collector: store %q: digest %q of segment %d does not verify with the key that signs that segment (%w): the signing key changed without a key rotation entry, or the digest was edited or replaced; run audit verify", s.dir, digestName(n), n, err)
		}
		if n == 1 && d.PrevSignature != "" {
			return nil, fmt.Errorf("collector: store %q: digest %q carries the signature of a digest before it, which the first segment's never does: earlier segments were removed and the rest renumbered; run audit verify", s.dir, digestName(n))
		}
		// The number a digest names is checked against its file's
		// before the link: a digest renamed (with its segment) was
		// refused only by the link, as a signature that does not match
		// (TestStartRefusesDigestOfAnotherSegment).
		if d.Segment != n || d.File != segName(n) {
			return nil, fmt.Errorf("collector: store %q: digest %q names segment %d (file %q), not segment %d: digests renamed, replaced or reordered; run audit verify", s.dir, digestName(n), d.Segment, d.File, n)
		}
		if i > 0 && digests[i-1] == n-1 && d.PrevSignature != prevSig {
			return nil, fmt.Errorf("collector: store %q: digest %q of segment %d does not carry the signature of digest %d before it: digests replaced or reordered; run audit verify", s.dir, digestName(n), n, n-1)
		}
		out[n], prevSig = d, sig
	}
	return out, nil
}

// checkContiguous refuses a store whose digests do not run from segment 1
// to the newest sealed segment, with the open segment (if any) right
// after it and the signed head naming no segment past that one, or whose
// sealed segment files left do not run from the oldest kept to the
// newest (holes): gaps verify reports as a missing digest or missing
// segments. Retention keeps every digest and deletes the oldest segments
// first, so such a gap is never retention's. Before, the start checked
// each digest present and the link between two adjacent ones only, and
// appended on a store missing a digest, or a segment and its digest, in
// the middle (TestStartRefusesDigestGap). It reads the names listed and
// the head only. The newest segment deleted with the head naming it (the open
// one, or the newest sealed one with its digest) is no gap here:
// checkHeadNamed refuses it.
func (s *Store) checkContiguous(segs, digests, open []uint64) error {
	var gaps someNamed
	gap := func(from, to uint64, why string) { gaps.add(gapText(from, to, segs) + why) }
	next := uint64(1)
	for _, n := range digests {
		if n > next {
			gap(next, n-1, "")
		}
		next = max(next, n+1)
	}
	if len(open) > 0 {
		if open[0] > next {
			gap(next, open[0]-1, fmt.Sprintf(" (before the open segment %d)", open[0]))
		}
		next = open[len(open)-1] + 1
	}
	if head, err := s.readHead(); err == nil && head.Segment > next {
		gap(next, head.Segment-1, fmt.Sprintf(" (the signed head names segment %d)", head.Segment))
	}
	if gaps.empty() {
		holes(segs, digests, &gaps)
	}
	if gaps.empty() {
		return nil
	}
	return fmt.Errorf("collector: store %q: sealed segments or digests are missing: %s; retention keeps every digest and deletes the oldest segments first, so these were deleted otherwise (by hand, or by an intruder): run audit verify", s.dir, gaps.join("; "))
}

// holes names in out the sealed segment files absent after one present,
// in a store whose digests run from segment 1 to the newest sealed one:
// retention deletes the oldest segments first, so a segment deleted
// after one kept is no expiry, whatever its digest says.
func holes(segs, digests []uint64, out *someNamed) {
	var sealed uint64
	if len(digests) > 0 {
		sealed = digests[len(digests)-1]
	}
	end, _ := slices.BinarySearch(segs, sealed+1)
	if end == 0 {
		return // every sealed segment deleted: retention's, or not, verify tells
	}
	hole := func(from, to uint64) {
		switch {
		case to < from:
		case from == to:
			out.add(fmt.Sprintf("%s is gone (%s is left), after segment %d kept", segName(from), digestName(from), from-1))
		default:
			out.add(fmt.Sprintf("segments %d to %d are gone (their digests are left), after segment %d kept", from, to, from-1))
		}
	}
	for i := 1; i < end; i++ {
		hole(segs[i-1]+1, segs[i]-1)
	}
	hole(segs[end-1]+1, sealed)
}

// gapText names segments from..to, none of which has a digest, and
// whether their segment files are left.
func gapText(from, to uint64, segs []uint64) string {
	i, _ := slices.BinarySearch(segs, from)
	j, _ := slices.BinarySearch(segs, to+1)
	left := segs[i:j]
	switch {
	case from == to && len(left) == 0:
		return fmt.Sprintf("%s and %s are gone", segName(from), digestName(from))
	case from == to:
		return fmt.Sprintf("%s is gone (%s is left)", digestName(from), segName(from))
	case len(left) == 0:
		return fmt.Sprintf("segments %d to %d and their digests are gone", from, to)
	}
	return fmt.Sprintf("the digests of segments %d to %d are gone (the segment files of %s are left)", from, to, someOf(left))
}

// collectBatchIDs records the batch ids of closed segment n, up to the last
// trusted entry when it was sealed over a break. They are taken only from
// the entries its signed digest vouches for: the chain from its first hash
// to its last. A line planted by someone who can write the directory
// named a batch id a sender would use next, and the collector answered
// that batch as a duplicate without storing it; the line removed
// afterwards, verify found the trail intact
// (TestPlantedBatchIDDoesNotSuppressBatch). A segment whose entries do
// not chain from the one hash to the other (Verify reports it) gives no
// ids: a retry is then stored twice rather than lost.
func (s *Store) collectBatchIDs(n uint64, d *segmentDigest) error {
	if d == nil {
		return nil // no digest: Verify reports it; no id is taken from an unsigned segment
	}
	// A sealed segment shorter than its signed digest lost entries it
	// vouched for: emptied or cut, it is as good as deleted, which
	// checkContiguous refuses after a segment kept; the start took it and
	// appended on (TestStartRefusesSealedSegmentCut). Longer is left to
	// verify: the signed entries are all there (a planted line after them,
	// TestPlantedBatchIDDoesNotSuppressBatch).
	if fi, err := os.Lstat(filepath.Join(s.dir, segName(n))); err == nil && fi.Mode().IsRegular() && fi.Size() < d.Size {
		return fmt.Errorf("collector: store %q: %s is %d bytes, its signed digest says %d (%d entries, seq %d..%d): entries the digest vouches for were cut off or the file emptied, which no collector does; run audit verify",
			s.dir, segName(n), fi.Size(), d.Size, d.Entries, d.FirstSeq, d.LastSeq)
	}
	limit := -1
	if d.Break != "" {
		limit = d.TrustedEntries
	}
	first, okFirst := parseHash(d.FirstHash)
	last, okLast := parseHash(d.LastHash)
	if !okFirst || !okLast || limit == 0 {
		return nil
	}
	var ids []entryHeader
	seq, prev, reached := d.FirstSeq-1, [32]byte{}, false
	_, _, err := segmentLines(filepath.Join(s.dir, segName(n)), func(i int, line []byte) error {
		if limit >= 0 && i >= limit || reached {
			return io.EOF
		}
		if i == 0 {
			var l entryLine
			if json.Unmarshal(line, &l) != nil {
				return io.EOF
			}
			prev, _ = parseHash(l.Prev) // the segment's first entry is known by its hash
		}
		h, hash, why := chainLink(line, seq, prev)
		if why != "" || i == 0 && hash != first {
			return io.EOF
		}
		seq, prev = h.Seq, hash
		ids = append(ids, entryHeader{Seq: h.Seq, Kind: h.Kind, Time: h.Time, BatchID: h.BatchID, Sender: h.Sender, Events: h.Events, Segment: h.Segment, DurableHead: h.DurableHead, Counted: h.Counted, retentionSeconds: h.retentionSeconds, records: h.records, replay: h.replay, replayUnknown: h.replayUnknown, counts: s.entryCounts(h, line)})
		reached = seq == d.LastSeq && prev == last
		return nil
	})
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errLineTooLong) {
		return err
	}
	if reached {
		for i := range ids {
			s.rememberBatch(&ids[i])
			s.noteDurable(&ids[i])
		}
	}
	return nil
}

// rememberBatch records a stored batch id (per sender) and the lifecycle
// events of an entry, so a retry is not stored twice, and the segment a
// retention entry names, so its expiry is not recorded twice.
func (s *Store) rememberBatch(h *entryHeader) {
	switch h.Kind {
	case KindBatch:
		if h.replayUnknown {
			s.seen.addUnknown(h.Sender, h.BatchID, h.records, h.Time)
		} else {
			s.seen.addBy(h.Sender, h.BatchID, h.records, h.replay, h.Time)
		}
		s.seen.restoreSums(h.Sender, h.counts)
	case KindRetention:
		s.retained[h.Segment] = struct{}{}
		if r := &s.newestRetention; h.Segment >= r.segment {
			r.segment, r.at, r.period = h.Segment, h.Time, time.Duration(h.retentionSeconds)*time.Second
		}
	}
	for _, ev := range h.Events {
		if ev.Key != "" {
			s.seenEvents.addAt(ev, h.Seq)
		}
	}
}

func (s *Store) readDigest(n uint64) (*segmentDigest, string, error) {
	data, err := readRegular(filepath.Join(s.dir, digestName(n)), maxDocBytes)
	if err != nil {
		return nil, "", err
	}
	d := new(segmentDigest)
	sig, err := openDoc(data, s.keys.at(n), domainDigest, d)
	return d, sig, err
}
