// The chain hash of one entry as this store holds it, found by walking its segment from the
// position before it (what an anchor is compared with).

package collector

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

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
