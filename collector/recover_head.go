// Recovery's checks of the signed head: head.json present, valid (or why no crash explains its
// absence), not older than the durable head an entry records, naming no segment the store lost, and
// matching the chain recovered; the first head of an empty store.

package collector

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

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
