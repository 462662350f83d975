package collector

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// errFirstLine ends the read of a segment at its first line.
var errFirstLine = errors.New("first line read")

// FirstStored returns when the store in dir stored its first entry (seq
// 1): the store holds nothing of the time before, so a period that began
// earlier is covered from then on only. It reads the signed digest of the
// store's oldest segment, which stays after retention deletes the file,
// or, while that segment is still open (no digest yet), its first line;
// either is checked with pub (nil reads it unverified). ok is false when
// the store holds no entry at all. An error says why the time cannot be
// known: the oldest digest does not verify, or the store's oldest
// segment does not begin the chain (its predecessors and their digests
// are gone).
func FirstStored(dir string, pub ed25519.PublicKey) (t time.Time, ok bool, err error) {
	segs, digests, err := listSegments(dir)
	if err != nil {
		return time.Time{}, false, err
	}
	keys, err := ringFor(dir, segs, pub)
	if err != nil {
		return time.Time{}, false, err
	}
	switch {
	case len(digests) > 0 && (len(segs) == 0 || digests[0] <= segs[0]):
		return firstFromDigest(dir, digests[0], keys.key(digests[0]))
	case len(segs) > 0:
		return firstFromLine(dir, segs[0], keys.key(segs[0]))
	}
	return time.Time{}, false, nil
}

// firstFromDigest reads the first entry's time from segment n's digest.
func firstFromDigest(dir string, n uint64, pub ed25519.PublicKey) (time.Time, bool, error) {
	data, err := readRegular(filepath.Join(dir, digestName(n)), maxDocBytes)
	var d segmentDigest
	if err == nil {
		if pub != nil {
			_, err = openDoc(data, pub, domainDigest, &d)
		} else {
			err = unverifiedDoc(data, &d)
		}
	}
	switch {
	case err != nil:
		return time.Time{}, false, fmt.Errorf("digest of segment %d, the store's oldest: %w", n, err)
	case d.FirstSeq != 1:
		return time.Time{}, false, fmt.Errorf("the store's oldest segment, %d, begins at entry %d: the entries before it are gone, and their digests", n, d.FirstSeq)
	}
	return d.Start, true, nil
}

// firstFromLine reads the first entry's time from the first line of
// segment n, which has no digest yet; ok is false when it has no line.
func firstFromLine(dir string, n uint64, pub ed25519.PublicKey) (t time.Time, ok bool, err error) {
	_, _, err = segmentLines(filepath.Join(dir, segName(n)), func(_ int, line []byte) error {
		var l entryLine
		var h entryHeader
		if err := decodeEntryLine(line, &l); err != nil {
			return fmt.Errorf("first entry of segment %d: %w", n, err)
		}
		if err := json.Unmarshal(l.Body, &h); err != nil {
			return fmt.Errorf("first entry of segment %d: %w", n, err)
		}
		if hash, hok := parseHash(l.Hash); pub != nil && (!hok || !l.signedBy(pub, hash)) {
			return fmt.Errorf("first entry of segment %d: not signed by the collector's key", n)
		}
		if h.Seq != 1 {
			return fmt.Errorf("the store's oldest segment, %d, begins at entry %d: the entries before it are gone, and their digests", n, h.Seq)
		}
		t, ok = h.Time, true
		return errFirstLine
	})
	if errors.Is(err, errFirstLine) {
		err = nil
	}
	return t, ok, err
}
