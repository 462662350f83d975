package collector

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DeletedSegment is a segment of the store whose file is gone (deleted by
// retention, which records it in the chain; Verify says whether each is
// accounted for) while its signed digest stays: when its entries were
// stored, which says which periods lost records.
type DeletedSegment struct {
	Segment uint64
	// Start and End are when its first and last entries were stored, as
	// its digest says; zero when the digest could not be read.
	Start, End time.Time
	// Problem says why the digest could not be read or verified, or "".
	Problem string
}

// DeletedSegments lists the segments of the store in dir whose file is
// gone while their digest is kept, oldest first, with the span their
// digest (checked with pub; nil reads it unverified) says they covered.
func DeletedSegments(dir string, pub ed25519.PublicKey) ([]DeletedSegment, error) {
	segs, digests, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	keys, err := ringFor(dir, segs, pub)
	if err != nil {
		return nil, err
	}
	present := make(map[uint64]bool, len(segs))
	for _, n := range segs {
		present[n] = true
	}
	var out []DeletedSegment
	for _, n := range digests {
		if present[n] {
			continue
		}
		out = append(out, deletedSegment(dir, n, keys.key(n)))
	}
	return out, nil
}

// deletedSegment reads the digest of segment n, whose file is gone.
func deletedSegment(dir string, n uint64, pub ed25519.PublicKey) DeletedSegment {
	ds := DeletedSegment{Segment: n}
	data, err := readRegular(filepath.Join(dir, digestName(n)), maxDocBytes)
	if errors.Is(err, os.ErrNotExist) {
		err = errors.New("digest removed")
	}
	var d segmentDigest
	if err == nil {
		if pub != nil {
			_, err = openDoc(data, pub, domainDigest, &d)
		} else {
			err = unverifiedDoc(data, &d)
		}
	}
	if err != nil {
		ds.Problem = fmt.Sprintf("digest of segment %d: %v", n, err)
		return ds
	}
	ds.Start, ds.End = d.Start, d.End
	return ds
}
