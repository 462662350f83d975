package collector

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// pub is the key the store signs with now.
func (s *Store) pub() ed25519.PublicKey { return s.keys.last() }
