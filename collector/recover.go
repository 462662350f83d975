package collector

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// KindBreak is the chain entry the collector writes when it restarts and
// finds entries it cannot vouch for at the end of the open segment: entries
// after the last one signed (by the head or its own signature), which no
// collector wrote, or a link that does not hash. The
// collector does not sign over them; it seals that segment with a digest
// that names the last trusted entry, starts a new segment and records the
// break there, chained to the last trusted entry (issue 21, item 1). It
// also records one when the chain does not hold the entry the signed head
// names (cut off, or a fork), when a store with entries has no valid
// head (checkHead), and when the operator accepts a rollback past a
// published head (CheckAnchors): verify keeps reporting each.
const KindBreak = "break"

// storeMarker names the file that makes a directory an audit store, so that
// verify and query can tell an empty store from a wrong directory.
const storeMarker = "store.id"

const storeMarkerText = "portcullis audit store v1\n"

// recover rebuilds the state of the chain from the segments: the chain tip
// and digest signature from the newest digest, the stored batch ids, and the
// open segment, every entry of which is checked against the chain and the
// signed head before the collector appends to it again.
func (s *Store) recover() error {
	segs, digests, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	s.createdNow = len(segs) == 0 && len(digests) == 0 && absent(s.dir, storeMarker) && absent(s.dir, headFile)
	if err := writeMarker(s.dir); err != nil {
		return err
	}
	var sealed uint64
	var checked map[uint64]*segmentDigest
	if len(digests) > 0 {
		sealed = digests[len(digests)-1]
		s.segNum = sealed
		if err := s.loadLastDigest(sealed); err != nil {
			return err
		}
	}
	var open []uint64
	for _, n := range segs {
		if n > sealed {
			open = append(open, n)
		}
	}
	if err := s.checkContiguous(segs, digests, open); err != nil {
		return err
	}
	if len(digests) > 0 {
		if checked, err = s.checkDigests(digests); err != nil {
			return err
		}
	}
	if err := s.checkHeadNamed(digests, open); err != nil {
		return err
	}
	if err := s.checkHeadPresent(segs, digests); err != nil {
		return err
	}
	if len(open) > 1 {
		return fmt.Errorf("collector: segments %s in %q have no signed digest; only the newest may be open: inspect the directory (audit verify) before starting the collector", someOf(open), s.dir)
	}
	s.sumsFrom = s.sumsHorizon(checked[sealed])
	defer func() { s.sumsFrom, s.sumsBuf = time.Time{}, bodyBuffers{} }()
	for _, n := range segs {
		if n > sealed {
			break
		}
		if err := s.collectBatchIDs(n, checked[n]); err != nil {
			return err
		}
	}
	var w *openWalk
	if len(open) == 1 {
		if w, err = s.walkOpen(filepath.Join(s.dir, segName(open[0])), open[0]); err != nil {
			return err
		}
		for i := range w.ids[:w.trusted] {
			s.rememberBatch(&w.ids[i])
		}
		if w.durable > s.durableHead {
			s.durableHead, s.durableFrom = w.durable, w.durableFrom
		}
		if w.counted {
			s.counted.Store(true)
		}
	}
	if err := s.expiredAccounted(segs, digests, checked); err != nil {
		return err
	}
	end := s.seq
	if w != nil {
		end = w.seq
	}
	if err := s.checkHeadLag(end); err != nil {
		return err
	}
	if w == nil {
		err = s.checkHead()
	} else {
		if w.brk != "" && s.headAccepted != "" {
			w.brk += "; " + s.headAccepted
		}
		err = s.recoverOpen(open[0], w)
	}
	if err == nil && s.headLagged {
		// The break is recorded: its head is signed durably at once,
		// or the older head left there would refuse the start after a
		// crash again.
		_, err = s.signHeadLocked(s.cfg.Now())
	}
	return err
}

// checkHeadPresent refuses a store that holds segments or digests but no
// valid signed head.json: none, something other than a regular file at
// its name, or a file that is empty, not a signed head, or not signed by
// the store's key (readHeadFile). No crash leaves that: the collector
// writes the store's first head, durably, when it creates the store,
// before any segment (firstHead), and only ever replaces it by a rename
// of a file written through (fsync'd) first, which leaves the old head
// or the new one, each whole. So it was deleted or overwritten, and with
// it what a cut of the newest entries is measured against; before, the
// start recorded a break and appended on, and whoever deleted the head
// could cut the newest entries with it (TestStartRefusesStoreWithoutHead),
// or whoever emptied or garbled it, since a head renamed into place
// without an fsync could be left empty by a crash
// (TestStartRefusesStoreWithInvalidHead). A collector older than the
// fsync could leave it so: the operator accepts it with
// StoreConfig.AcceptMissingHead, and the break is recorded (checkHead,
// or the open segment's break), naming who accepted it.
func (s *Store) checkHeadPresent(segs, digests []uint64) error {
	if len(segs)+len(digests) == 0 {
		return nil // a new store: checkHead writes its first head
	}
	_, bad, err := readHeadFile(s.dir, s.keys)
	if err != nil || bad == nil {
		return err
	}
	if s.cfg.AcceptMissingHead != "" {
		s.headAccepted = bad.what + ", accepted at the start by " + s.cfg.AcceptMissingHead
		return nil
	}
	return fmt.Errorf("collector: store %q: %s, but the store holds %d segment files and %d digests: %s, and the newest entries may have been cut with it: "+
		"run audit verify (with --published-head or --etcd, which tell such a cut); then put back the head published at an anchor (the --publish-head file, or <prefix>/audit/head in etcd) or a copy of %s, "+
		"or start the collector with --accept-missing-head, which records the missing or invalid head as a break in the chain (audit verify keeps reporting it)",
		s.dir, bad.what, len(segs), len(digests), bad.whyNoCrash(), headFile)
}

// badHead is what stands at head.json in place of a valid signed head.
type badHead struct {
	what string // what stands there: "head.json is gone", "head.json is empty", ...
	gone bool   // nothing, or something other than a regular file
}

func (b *badHead) Error() string { return b.what }

// whyNoCrash says why no crash of a collector that fsyncs its head
// leaves it as b, and who did.
func (b *badHead) whyNoCrash() string {
	if b.gone {
		return "a collector writes its head before the first segment and only replaces it by a rename, so no crash leaves a store without it; it was deleted (by hand, or by an intruder)"
	}
	return "a collector writes its head before the first segment and only replaces it by a rename of a file it wrote through (fsync'd), so no crash leaves it empty or unreadable; it was emptied, replaced or overwritten (by hand, or by an intruder), " +
		"unless an older collector, which renamed its head into place without an fsync, crashed and the file system lost the head's bytes"
}

// noteDurable takes the durable head a trusted entry records, when it is
// the newest read.
func (s *Store) noteDurable(h *entryHeader) {
	if h.DurableHead > s.durableHead {
		s.durableHead, s.durableFrom = h.DurableHead, h.Seq
	}
	if h.Counted {
		s.counted.Store(true)
	}
}

// checkHeadLag refuses a valid head.json older than the newest head the
// chain's trusted entries record as written durably before them
// (entryHeader.DurableHead). A crash may lose the renames of the heads
// signed after each append (appendHeadLocked), which leaves head.json
// behind the entries, but never one written with the directory's fsync
// (the heads signed at the start, on the --sign-every timer, at a seal
// and at a retention change): an entry is written after the durable
// head it records, so while the entry stands, head.json names that head
// or a newer one. Older, it was put back from a copy, and the entries
// after it could have been cut with it (the start took it as a crash,
// TestStartRefusesHeadOlderThanTheChainRecords). A store cut back to the
// copy's own entries, the later ones all deleted, records no newer
// durable head: that is the store as it was, which only a published
// head tells. With AcceptMissingHead it is taken and the break recorded
// (checkHead), naming the head that stood there.
func (s *Store) checkHeadLag(end uint64) error {
	if s.headAccepted != "" || s.durableHead == 0 {
		return nil
	}
	head, err := s.readHead()
	if err != nil || head.Seq >= s.durableHead {
		return nil // checkHeadPresent refused an invalid head or accepted it
	}
	what := fmt.Sprintf("%s names seq %d (signed %s), but entry %d records that the head naming seq %d was written durably before it: "+
		"a crash leaves %s at that head or a newer one, never older, so an older copy of it was put back, %d entries behind that head and %d behind the chain's end (seq %d)",
		headFile, head.Seq, head.Time.UTC().Format(time.RFC3339), s.durableFrom, s.durableHead, headFile, s.durableHead-head.Seq, end-head.Seq, end)
	if s.cfg.AcceptMissingHead != "" {
		s.headAccepted, s.headLagged = what+", accepted at the start by "+s.cfg.AcceptMissingHead, true
		return nil
	}
	return fmt.Errorf("collector: store %q: %s, and the newest entries may have been cut with it: "+
		"run audit verify (with --published-head or --etcd, which tell such a cut); then put back the head published at an anchor (the --publish-head file, or <prefix>/audit/head in etcd) or the newest copy of %s, "+
		"or start the collector with --accept-missing-head, which records the head that stood there as a break in the chain (audit verify keeps reporting it)",
		s.dir, what, headFile)
}

// readHeadFile reads dir/head.json and opens it with keys. For a head
// that is not a valid one, bad says what stands there instead: nothing,
// another kind of file, an empty file, a file that is not a signed head,
// or one not signed by the store's key. err is a failure to read it at
// all (the file's permissions, the disk), which says nothing of the head.
func readHeadFile(dir string, keys *keyRing) (h *storeHead, bad *badHead, err error) {
	path := filepath.Join(dir, headFile)
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &badHead{headFile + " is gone", true}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("collector: cannot inspect %q: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, &badHead{fmt.Sprintf("%s is a %s, not the signed head", headFile, fileKind(fi.Mode())), true}, nil
	case fi.Size() == 0:
		return nil, &badHead{headFile + " is empty", false}, nil
	}
	data, err := readRegular(path, maxDocBytes)
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return nil, nil, fmt.Errorf("collector: cannot read %q: %w", path, err)
	case err != nil: // over maxDocBytes
		return nil, &badHead{fmt.Sprintf("%s is not a signed head: %v", headFile, err), false}, nil
	}
	h = new(storeHead)
	switch _, err := keys.openHead(data, h); {
	case errors.Is(err, errBadSignature):
		return nil, &badHead{headFile + " is not signed by the store's key (its signature does not verify)", false}, nil
	case err != nil:
		return nil, &badHead{fmt.Sprintf("%s is not a valid signed head (%v)", headFile, err), false}, nil
	}
	return h, nil, nil
}

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

// absent reports whether dir holds no file name: a marker deleted from a
// store with segments or a head does not make it one this start created.
func absent(dir, name string) bool {
	_, err := os.Lstat(filepath.Join(dir, name))
	return errors.Is(err, fs.ErrNotExist)
}

// writeMarker marks dir as an audit store (once, when it is created).
func writeMarker(dir string) error {
	if _, err := os.Lstat(filepath.Join(dir, storeMarker)); err == nil {
		return nil
	}
	return durable.WriteFile(dir, storeMarker, []byte(storeMarkerText))
}

func (s *Store) loadLastDigest(n uint64) error {
	data, err := readRegular(filepath.Join(s.dir, digestName(n)), maxDocBytes)
	if err != nil {
		return fmt.Errorf("collector: cannot read digest %q: %w", digestName(n), err)
	}
	var d segmentDigest
	sig, err := openDoc(data, s.keys.at(n), domainDigest, &d)
	if err != nil {
		return fmt.Errorf("collector: digest %q does not verify with the signing key: %w", digestName(n), err)
	}
	s.lastSig = sig
	s.seq = d.LastSeq
	s.prev, _ = parseHash(d.LastHash)
	return nil
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

// checkHeadNamed refuses a store that lost the newest segment the signed
// head names, or digests up to the newest one it says was sealed: the
// collector creates a segment durably before an entry in it (and so the
// head) names it, and writes a digest durably before it signs a head
// saying so (storeHead.Sealed, signed again at every seal), so neither
// is a crash's. Before, the newest sealed segment deleted with its
// digest, or the open one, under the head naming it, left no gap
// checkContiguous saw: the start recorded a break and appended on; and
// the newest digest alone deleted, its segment was taken for the open
// one and appended to, sealed later under a new digest, and nothing told
// (TestStartRefusesNewestSegmentDeleted). It runs after checkDigests,
// whose errors say more about a store renumbered or reordered, and
// costs one more read of the head. A head deleted too, or put back to an
// older one, is not found here: checkHeadPresent refuses the first, and
// only a published head (CheckAnchors, audit verify --published-head)
// tells the second.
func (s *Store) checkHeadNamed(digests, open []uint64) error {
	head, err := s.readHead()
	if err != nil {
		return nil // checkHeadPresent refuses a head gone, checkHead records a break for one that does not verify
	}
	var sealed uint64
	if len(digests) > 0 {
		sealed = digests[len(digests)-1]
	}
	next := sealed + 1
	if len(open) > 0 {
		next = open[len(open)-1] + 1
	}
	var gone string
	switch {
	case head.Sealed > sealed:
		segs, _, err := listSegments(s.dir)
		if err != nil {
			return err
		}
		gone = gapText(sealed+1, head.Sealed, segs) + fmt.Sprintf(" (the signed head says segment %d was sealed)", head.Sealed)
	case head.Segment >= next:
		gone = fmt.Sprintf("%s is gone (the signed head names segment %d, seq %d)", segName(head.Segment), head.Segment, head.Seq)
	default:
		return nil
	}
	return fmt.Errorf("collector: store %q: the newest segments are missing: %s; a collector creates a segment and writes a digest before its head names them, so these were deleted (by hand, or by an intruder): run audit verify", s.dir, gone)
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

// pub is the key the store signs with now.
func (s *Store) pub() ed25519.PublicKey { return s.keys.last() }

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
		ids = append(ids, entryHeader{Seq: h.Seq, Kind: h.Kind, Time: h.Time, BatchID: h.BatchID, Sender: h.Sender, Events: h.Events, Segment: h.Segment, DurableHead: h.DurableHead, Counted: h.Counted, retentionSeconds: h.retentionSeconds, records: h.records, replay: h.replay, counts: s.entryCounts(h, line)})
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
		s.seen.addBy(h.Sender, h.BatchID, h.records, h.replay, h.Time)
		s.seen.restoreSums(h.Sender, h.counts)
	case KindRetention:
		s.retained[h.Segment] = struct{}{}
		if r := &s.newestRetention; h.Segment >= r.segment {
			r.segment, r.at, r.period = h.Segment, h.Time, time.Duration(h.retentionSeconds)*time.Second
		}
	}
	for _, ev := range h.Events {
		if ev.Key != "" {
			s.seenEvents.add(ev)
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

// openWalk is what recovery learns from walking the open segment.
type openWalk struct {
	entries   int       // complete lines
	good      int64     // bytes of complete lines
	partial   bool      // a torn last line follows them
	trusted   int       // entries up to and including the one the signed head names
	seq       uint64    // chain tip at the last trusted entry
	hash      [32]byte  // its hash
	firstSeq  uint64    // first entry, when trusted
	firstHash [32]byte  // its hash
	start     time.Time // its time
	brk       string    // why entries after trusted cannot be vouched for
	ids       []entryHeader
	// durable is the newest durable head the trusted entries record
	// (entryHeader.DurableHead), durableFrom the entry that records it.
	durable, durableFrom uint64
	// counted says a trusted entry records Store.counted.
	counted bool
}

// recoverOpen checks every entry of the open segment n: each must link to
// the one before (from the last digest) and hash correctly, and the last
// must carry the collector's signature or be the one the signed head
// names. Anything after the last such entry is not signed over: see
// KindBreak.
func (s *Store) recoverOpen(n uint64, w *openWalk) error {
	path := filepath.Join(s.dir, segName(n))
	if w.trusted == w.entries && w.brk == "" {
		if err := s.reopen(path, n, w); err != nil {
			return err
		}
		return s.checkHead()
	}
	return s.sealBreak(path, n, w)
}

// walkOpen reads the open segment, checking the chain from s.prev/s.seq.
func (s *Store) walkOpen(path string, n uint64) (*openWalk, error) {
	head, headErr := s.readHead()
	w := &openWalk{seq: s.seq, hash: s.prev}
	seq, prev := s.seq, s.prev
	var durable struct{ head, from uint64 } // the newest durable head an entry walked records, and that entry
	counted := false                        // an entry walked records Store.counted
	headAt := func(seq uint64, h [32]byte) bool {
		return headErr == nil && head.Seq == seq && head.Hash == hex.EncodeToString(h[:])
	}
	f, _, err := openRegular(path)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot open segment %q: %w", path, err)
	}
	defer f.Close()
	lr := newLineReader(f, MaxEntryBytes)
	for {
		line, err := lr.next()
		if errors.Is(err, io.EOF) {
			w.partial = len(line) > 0
			break
		}
		if err != nil {
			w.brk = fmt.Sprintf("entry %d: %v", w.entries, err)
			w.partial = true
			break
		}
		w.good += int64(len(line))
		w.entries++
		if w.brk != "" {
			continue
		}
		h, hash, signed, why := checkLink(line[:len(line)-1], seq, prev, s.keys.at(n))
		if why != "" {
			w.brk = fmt.Sprintf("entry %d: %s", w.entries-1, why)
			continue
		}
		seq, prev = h.Seq, hash
		w.ids = append(w.ids, entryHeader{Kind: h.Kind, Time: h.Time, BatchID: h.BatchID, Sender: h.Sender, Events: h.Events, Segment: h.Segment, retentionSeconds: h.retentionSeconds, records: h.records, replay: h.replay, counts: s.entryCounts(h, line[:len(line)-1])})
		if w.entries == 1 {
			w.firstSeq, w.firstHash, w.start = h.Seq, hash, h.Time
		}
		if h.DurableHead > durable.head {
			durable.head, durable.from = h.DurableHead, h.Seq
		}
		counted = counted || h.Counted
		if signed || headAt(seq, prev) {
			w.trusted, w.seq, w.hash = w.entries, seq, prev
			w.durable, w.durableFrom = durable.head, durable.from
			w.counted = counted
		}
	}
	if w.brk == "" && w.trusted < w.entries {
		w.brk = unsignedReason(w, head, headErr)
	}
	return w, nil
}

func unsignedReason(w *openWalk, head *storeHead, headErr error) string {
	n := w.entries - w.trusted
	switch {
	case headErr != nil:
		return fmt.Sprintf("%d entries and no valid signed head (%v)", n, headErr)
	case head.Seq > w.seq:
		return fmt.Sprintf("%d entries after seq %d, the last signed one, where the signed head names seq %d", n, w.seq, head.Seq)
	}
	return fmt.Sprintf("%d entries after seq %d, the last the signed head names", n, head.Seq)
}

// checkLink parses one line and checks it follows (seq, prev); signed
// reports whether the collector's key signed it.
func checkLink(line []byte, seq uint64, prev [32]byte, pub ed25519.PublicKey) (h *entryHeader, hash [32]byte, signed bool, why string) {
	var l entryLine
	h, hash, why = chainLinkOf(line, seq, prev, &l)
	if why != "" {
		return nil, hash, false, why
	}
	return h, hash, l.signedBy(pub, hash), ""
}

// chainLink is checkLink without the signature.
func chainLink(line []byte, seq uint64, prev [32]byte) (h *entryHeader, hash [32]byte, why string) {
	var l entryLine
	return chainLinkOf(line, seq, prev, &l)
}

// chainLinkOf is chainLink decoding the line into l.
func chainLinkOf(line []byte, seq uint64, prev [32]byte, l *entryLine) (h *entryHeader, hash [32]byte, why string) {
	var body struct {
		entryHeader
		Records          recordCount `json:"records"`
		RetentionSeconds int64       `json:"retention_seconds"`
		Replay           string      `json:"replay"`
	}
	if json.Unmarshal(line, l) != nil || json.Unmarshal(l.Body, &body) != nil {
		return nil, hash, "not an entry"
	}
	h = &body.entryHeader
	h.records, h.retentionSeconds, h.replay = int(body.Records), body.RetentionSeconds, replayToken(body.Replay)
	p, hash, ok := l.links()
	if !ok {
		return nil, hash, "malformed prev or hash"
	}
	c := chainCursor{prev: prev, seq: seq, prevKnown: true}
	switch f := c.next(p, hash, chainHash(p, l.Body), h.Seq); {
	case f.broken:
		return nil, hash, "prev does not name the entry before"
	case f.edited:
		return nil, hash, "content does not hash to the stored hash"
	case f.gap:
		return nil, hash, fmt.Sprintf("seq %d follows seq %d", h.Seq, seq)
	}
	return h, hash, ""
}

// recordCount is the number of elements of a JSON array (a batch's
// records), counted without decoding them: recovery rebuilds the counts
// the answer to a duplicate batch gives (dedup.records) from the trail.
// Before, they were lost at a restart, answered "unknown", and a sidecar
// whose batch timed out took only the first record of it as stored and
// sent the rest again, stored twice (TestDuplicateCountsSurviveRestart).
type recordCount int

func (c *recordCount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' || len(bytes.TrimSpace(b[1:len(b)-1])) == 0 {
		*c = 0 // null, or []
		return nil
	}
	n, depth, str, esc := 1, 0, false, false
	for _, ch := range b {
		switch {
		case esc:
			esc = false
		case str:
			esc, str = ch == '\\', ch != '"'
		case ch == '"':
			str = true
		case ch == '[' || ch == '{':
			depth++
		case ch == ']' || ch == '}':
			depth--
		case ch == ',' && depth == 1:
			n++
		}
	}
	*c = recordCount(n)
	return nil
}

// readHead reads and checks the signed head.
func (s *Store) readHead() (*storeHead, error) { return openHeadFile(s.dir, s.keys) }

// openHeadFile is readHeadFile with what stands in place of a valid head
// as the error (a *badHead).
func openHeadFile(dir string, keys *keyRing) (*storeHead, error) {
	h, bad, err := readHeadFile(dir, keys)
	if bad != nil {
		return nil, bad
	}
	return h, err
}

// reopen continues appending to the open segment n, every entry of which
// is vouched for. A torn last line (a crash mid-append, never
// acknowledged) is cut off.
func (s *Store) reopen(path string, n uint64, w *openWalk) error {
	f, _, err := openRegularFlag(path, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return fmt.Errorf("collector: cannot reopen segment %q: %w", path, err)
	}
	// Cut through the file opened (O_NOFOLLOW, regular only), not by
	// name: a link planted there since the walk is never followed.
	if w.partial {
		if err := f.Truncate(w.good); err != nil {
			f.Close()
			return fmt.Errorf("collector: cannot cut torn entry off segment %q: %w", path, err)
		}
	}
	sum, err := hashFile(path)
	if err != nil {
		f.Close()
		return err
	}
	s.seg, s.segNum, s.segSize, s.segSHA = f, n, w.good, sum
	s.seq, s.prev = w.seq, w.hash
	s.segStart, s.segEntries = s.cfg.Now(), w.entries
	if w.entries > 0 {
		s.segFirst, s.segFirstH, s.segStart = w.firstSeq, w.firstHash, w.start
	}
	return nil
}

// hashFile returns a SHA-256 state fed with the whole regular file.
func hashFile(path string) (hash.Hash, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot read segment %q: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("collector: cannot read segment %q: %w", path, err)
	}
	return h, nil
}

// sealBreak seals segment n as it is with a digest naming its last trusted
// entry and why the rest is not vouched for, then records the break as the
// first entry of the next segment, chained to that trusted entry.
func (s *Store) sealBreak(path string, n uint64, w *openWalk) error {
	sum, err := hashFile(path)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("collector: cannot stat segment %q: %w", path, err)
	}
	now := s.cfg.Now().UTC()
	d := segmentDigest{Segment: n, File: segName(n), Size: fi.Size(), SHA256: hex.EncodeToString(sum.Sum(nil)),
		LastSeq: w.seq, Entries: w.entries, LastHash: hex.EncodeToString(w.hash[:]), Start: w.start.UTC(),
		End: now, PrevSignature: s.lastSig, TrustedEntries: w.trusted, Break: w.brk}
	if w.trusted > 0 {
		d.FirstSeq, d.FirstHash = w.firstSeq, hex.EncodeToString(w.firstHash[:])
	}
	doc, sig, err := signDoc(s.cfg.SigningKey, domainDigest, d)
	if err != nil {
		return err
	}
	if err := s.writeFileLocked(digestName(n), doc); err != nil {
		return err
	}
	s.segNum, s.lastSig, s.seq, s.prev = n, sig, w.seq, w.hash
	return s.recordBreak(n, w.entries-w.trusted, w.brk)
}

// recordBreak appends a break entry after the chain tip: segment n held
// untrusted entries the collector does not sign over, for reason.
func (s *Store) recordBreak(n uint64, untrusted int, reason string) error {
	body := s.bodyHeader(nil, KindBreak)
	body = appendIntField(body, `,"segment":`, int64(n))
	body = appendIntField(body, `,"trusted_seq":`, int64(s.seq))
	body = appendStringField(body, `,"last_hash":`, hex.EncodeToString(s.prev[:]))
	body = appendIntField(body, `,"untrusted_entries":`, int64(untrusted))
	body = appendStringField(body, `,"reason":`, reason)
	body = append(body, '}')
	if err := s.appendLocked(body); err != nil {
		return fmt.Errorf("collector: cannot record the break in segment %d: %w", n, err)
	}
	s.stats.Breaks++
	if s.cfg.OnBreak != nil {
		s.cfg.OnBreak(n, untrusted, reason)
	}
	return nil
}

// checkHead compares the chain recovered (closed segments and the open
// one, every entry of which links and is signed or vouched for by the
// head) with the signed head, and records a break when the chain does not
// hold the entry the head names: the head names a seq past the chain's
// end (the newest entries were cut off or deleted), or an entry of the
// chain with another hash (the chain was replaced from there on: a fork).
// A store that holds entries but no valid signed head (deleted, emptied
// or replaced: no crash leaves that, checkHeadPresent refuses it unless
// the operator accepted it) records a break as well: how many entries
// went with the head is unknown. In every case the collector must not
// continue and sign a head over the shorter chain as if nothing was
// removed. A new store gets
// its first head here, durably, before any entry: so a crash can never
// leave entries without a head (an entry whose head was not yet renamed
// into place carries its own signature, and the head before it stays).
func (s *Store) checkHead() error {
	head, err := s.readHead()
	if err != nil {
		if s.seq == 0 {
			// No entry to vouch for: a new store (or one emptied, which
			// only a published head can tell).
			return s.firstHead()
		}
		reason := fmt.Sprintf("no valid signed head (%v) but the chain holds entries up to seq %d: "+
			"the head was deleted or replaced, and entries after seq %d may have been removed with it; how many is unknown", err, s.seq, s.seq)
		if s.headAccepted != "" {
			reason += "; " + s.headAccepted
		}
		return s.recordBreak(s.breakSegment(), 0, reason)
	}
	if head.Counted {
		s.counted.Store(true)
	}
	if s.headLagged {
		if err := s.recordBreak(s.breakSegment(), 0, s.headAccepted); err != nil {
			return err
		}
	}
	if head.Seq > s.seq {
		return s.recordBreak(s.breakSegment(), int(head.Seq-s.seq),
			fmt.Sprintf("the signed head names seq %d but the chain ends at seq %d: newest entries removed", head.Seq, s.seq))
	}
	got, err := s.entryHash(head.Seq)
	switch {
	case errors.Is(err, errSegmentExpired):
		return nil
	case err != nil:
		return s.recordBreak(s.breakSegment(), 0, fmt.Sprintf("the signed head names seq %d (hash %.16s...), which the chain does not hold: %v", head.Seq, head.Hash, err))
	case hex.EncodeToString(got[:]) != head.Hash:
		return s.recordBreak(s.breakSegment(), 0, fmt.Sprintf("the signed head names seq %d with hash %.16s... but the chain's entry %d has hash %x...: "+
			"the chain was replaced from there on (a fork); the entries the head vouched for are not in this store", head.Seq, head.Hash, head.Seq, got[:8]))
	}
	return nil
}

// sealedLocked is the newest segment sealed: the one before the open
// segment, else the last one numbered (0: none yet).
func (s *Store) sealedLocked() uint64 {
	if s.seg != nil {
		return s.segNum - 1
	}
	return s.segNum
}

// breakSegment is the segment a break recorded now goes into: the open
// one, else the next.
func (s *Store) breakSegment() uint64 {
	if s.seg != nil {
		return s.segNum
	}
	return s.segNum + 1
}

// firstHead writes the head of a store with no entries, durably; with
// StoreConfig.PublishesCounted, one that records that the store publishes
// counted heads, before any publication.
func (s *Store) firstHead() error {
	if s.cfg.PublishesCounted {
		s.counted.Store(true)
	}
	_, err := s.signHeadLocked(s.cfg.Now())
	return err
}

// errSegmentExpired says the entry asked for was in a segment retention
// deleted: its signed digest is kept, so the chain runs through it, but
// the entry's own hash can no longer be compared (Verify skips it too).
var errSegmentExpired = errors.New("its segment was deleted by retention")

// errFound ends a walk of a segment's lines at the entry looked for.
var errFound = errors.New("found")

// entryHash returns the chain hash of entry seq as this store holds it,
// found through the digests' first and last seq and the lines of the
// segment between them, each of which must link to the one before and
// hash correctly. The error says why the store does not hold entry seq.
// Called with s.mu held, or before the store is shared.
func (s *Store) entryHash(seq uint64) ([32]byte, error) {
	var zero [32]byte
	switch {
	case seq == 0:
		return zero, nil
	case seq > s.seq:
		return zero, fmt.Errorf("the chain ends at seq %d", s.seq)
	case seq == s.seq:
		return s.prev, nil
	}
	_, digests, err := listSegments(s.dir)
	if err != nil {
		return zero, err
	}
	var fromSeq uint64 // the chain before the segment looked in
	var from [32]byte
	for _, n := range digests {
		d, _, err := s.readDigest(n)
		if err != nil {
			return zero, fmt.Errorf("digest %q does not verify: %w", digestName(n), err)
		}
		last, ok := parseHash(d.LastHash)
		if !ok {
			return zero, fmt.Errorf("digest %q names no last hash", digestName(n))
		}
		switch {
		case d.LastSeq < seq:
			fromSeq, from = d.LastSeq, last
			continue
		case d.LastSeq == seq:
			return last, nil
		}
		if _, err := os.Lstat(filepath.Join(s.dir, segName(n))); errors.Is(err, os.ErrNotExist) {
			return zero, fmt.Errorf("entry %d: %w", seq, errSegmentExpired)
		}
		limit := -1
		if d.Break != "" {
			limit = d.TrustedEntries
		}
		return s.findEntry(n, fromSeq, from, seq, limit)
	}
	if s.seg == nil {
		return zero, fmt.Errorf("no segment holds entry %d", seq)
	}
	return s.findEntry(s.segNum, fromSeq, from, seq, -1)
}

// findEntry walks segment n from the chain position (seq, prev) before it
// to entry want, over at most limit lines (-1: all), and returns its hash.
func (s *Store) findEntry(n, seq uint64, prev [32]byte, want uint64, limit int) ([32]byte, error) {
	_, _, err := segmentLines(filepath.Join(s.dir, segName(n)), func(i int, line []byte) error {
		if limit >= 0 && i >= limit {
			return io.EOF
		}
		h, hash, _, why := checkLink(line, seq, prev, s.keys.at(n))
		if why != "" {
			return fmt.Errorf("segment %d entry %d: %s", n, i, why)
		}
		seq, prev = h.Seq, hash
		if seq == want {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return prev, nil
	case err == nil || errors.Is(err, io.EOF):
		return [32]byte{}, fmt.Errorf("segment %d ends at seq %d, before entry %d", n, seq, want)
	}
	return [32]byte{}, err
}
