package collector

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// Maintain rotates the open segment when it is older than SegmentMaxAge and
// applies the retention policy; the collector calls it periodically.
func (s *Store) Maintain(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	// Retention first: on a full disk it is what makes room, and a
	// rotation (a digest to write) would fail before it.
	err := s.expireLocked(now)
	if s.seg != nil && s.segEntries > 0 && now.Sub(s.segStart) >= s.cfg.SegmentMaxAge {
		err = errors.Join(err, s.closeSegmentLocked())
	}
	return err
}

// expireLocked deletes whole closed segments whose digest ends before
// now-Retention, oldest first, and records each deletion in the chain (the
// segment, its last hash and digest signature) so Verify accepts the gap.
// Digest files are kept: they are small and keep the digest chain whole.
func (s *Store) expireLocked(now time.Time) error {
	if s.cfg.Retention <= 0 {
		return nil
	}
	_, digests, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	for _, n := range digests {
		done, err := s.expireOneLocked(n, now, s.keys.at(n))
		if err != nil || done {
			return err
		}
	}
	return nil
}

// expireOneLocked expires segment n if it is due; done reports that n (and
// so every later segment) is still within retention.
func (s *Store) expireOneLocked(n uint64, now time.Time, pub ed25519.PublicKey) (done bool, err error) {
	path := filepath.Join(s.dir, segName(n))
	_, gone := s.unrecorded[n]
	if _, err := os.Lstat(path); !gone && errors.Is(err, os.ErrNotExist) {
		return false, nil // expired earlier
	}
	data, err := readRegular(filepath.Join(s.dir, digestName(n)), maxDocBytes)
	if err != nil {
		return true, fmt.Errorf("collector: cannot read digest of segment %d: %w", n, err)
	}
	var d segmentDigest
	sig, err := openDoc(data, pub, domainDigest, &d)
	if err != nil {
		return true, fmt.Errorf("collector: digest of segment %d does not verify; not expiring it: %w", n, err)
	}
	if now.Sub(d.End) < s.cfg.Retention {
		return true, nil
	}
	// The signed retention entry first, fsync'd, then the deletion: a
	// crash between them leaves a segment the chain says is expired, which
	// verifies and is deleted at the next pass. The other order left,
	// after a crash, a segment deleted with no entry to account for it,
	// reported missing by every verify from then on (an outside review).
	// On a disk with no room for the entry, the segment goes first and
	// the entry into the room it leaves: a full disk is what retention
	// frees, and refusing to delete would keep it full. A crash between
	// the two then leaves the deletion unaccounted for, as the old order
	// did, on a full disk only. When the room left is not enough for the
	// entry, the segment is kept in unrecorded and the next pass writes
	// its entry: it was taken for expired earlier and never written,
	// verify reporting the deletion for ever
	// (TestRetentionEntryFailedOnFullDiskWrittenLater).
	deleted := gone
	if _, recorded := s.retained[n]; !recorded {
		err := s.appendLocked(s.retentionBody(n, &d, sig, now))
		if !gone && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
			if err = s.deleteSegment(path); err == nil {
				deleted = true
				if err = s.appendLocked(s.retentionBody(n, &d, sig, now)); err != nil {
					s.unrecorded[n] = struct{}{}
				}
			}
		}
		if err != nil {
			return true, err
		}
		s.retained[n] = struct{}{}
	}
	delete(s.unrecorded, n)
	if !deleted {
		if err := s.deleteSegment(path); err != nil {
			return true, err
		}
	}
	s.stats.Expired++
	return false, nil
}

// deleteSegment removes an expired segment's file, durably.
func (s *Store) deleteSegment(path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("collector: cannot delete expired segment %q: %w", path, err)
	}
	return durable.SyncDir(s.dir)
}

// retentionBody encodes the signed retention entry for segment n.
func (s *Store) retentionBody(n uint64, d *segmentDigest, digestSig string, now time.Time) []byte {
	f := retentionFields{LastSeq: d.LastSeq, DigestSignature: digestSig, RetentionSeconds: int64(s.cfg.Retention / time.Second)}
	f.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.cfg.SigningKey, retentionMessage(n, d.LastHash, &f, now)))
	body := s.bodyHeaderAt(nil, KindRetention, now)
	body = appendIntField(body, `,"segment":`, int64(n))
	body = appendIntField(body, `,"expired_through":`, int64(n))
	body = appendIntField(body, `,"first_seq":`, int64(d.FirstSeq))
	body = appendIntField(body, `,"last_seq":`, int64(d.LastSeq))
	body = appendStringField(body, `,"last_hash":`, d.LastHash)
	body = appendStringField(body, `,"digest_signature":`, digestSig)
	body = appendIntField(body, `,"retention_seconds":`, f.RetentionSeconds)
	body = appendStringField(body, `,"signature":`, f.Signature)
	return append(body, '}')
}

// verify checks the signature of a retention entry for segment at time at.
func (f *retentionFields) verify(pub ed25519.PublicKey, segment uint64, lastHash string, at time.Time) bool {
	sig, err := base64.StdEncoding.DecodeString(f.Signature)
	return err == nil && ed25519.Verify(pub, retentionMessage(segment, lastHash, f, at), sig)
}

// domainRetention keeps a retention signature from passing for anything else.
const domainRetention = "portcullis-audit-retention-v1\n"

// retentionFields are the signed part of a retention entry: the expired
// segment's last hash and digest signature, the retention period in force
// and a signature over them and the entry's segment and time, so a person
// who can write the store but holds no key cannot explain a deletion away.
type retentionFields struct {
	LastSeq          uint64 `json:"last_seq"`
	DigestSignature  string `json:"digest_signature"`
	RetentionSeconds int64  `json:"retention_seconds"`
	Signature        string `json:"signature"`
}

// retentionMessage is what a retention signature covers.
func retentionMessage(segment uint64, lastHash string, f *retentionFields, at time.Time) []byte {
	return fmt.Appendf([]byte(domainRetention), "%d\n%d\n%s\n%s\n%d\n%s", segment, f.LastSeq, lastHash,
		f.DigestSignature, f.RetentionSeconds, at.UTC().Format(time.RFC3339Nano))
}
