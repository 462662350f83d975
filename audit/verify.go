package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	ProblemBadSignature   = "bad signature"   // a digest or head whose signature does not verify
	ProblemMissingHead    = "missing head"    // the signed head is gone
)

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
	// Unsigned counts entries after the signed head (normal only for the
	// last entry after a crash; Verify cannot vouch for them).
	Unsigned int       `json:"unsigned"`
	Problems []Problem `json:"problems"`
}

// OK reports whether no problem was found.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// verifier walks the chain segment by segment.
type verifier struct {
	dir       string
	pub       ed25519.PublicKey
	rep       VerifyReport
	digests   map[uint64]*segmentDigest
	sigs      map[uint64]string
	prev      [32]byte
	prevKnown bool
	seq       uint64
	hashAt    map[uint64][32]byte
	expiredTo uint64
	gone      []uint64 // segment files absent but with a digest
}

// Verify checks the store in dir against the public key: every entry's hash
// and link, every closed segment against its signed digest, the digest
// chain, retention records for deleted segments and the signed head. It
// returns an error only when dir cannot be read; tampering is reported in
// the report's Problems.
func Verify(dir string, pub ed25519.PublicKey) (*VerifyReport, error) {
	segs, digests, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	v := &verifier{dir: dir, pub: pub, digests: map[uint64]*segmentDigest{}, sigs: map[uint64]string{},
		hashAt: map[uint64][32]byte{}, prevKnown: true}
	v.checkDigests(digests)
	head, headErr := v.readHead()
	last := lastOf(segs, digests, head)
	present := map[uint64]bool{}
	for _, n := range segs {
		present[n] = true
	}
	for n := uint64(1); n <= last; n++ {
		if present[n] {
			v.rep.Segments++
			v.checkSegment(n, n == last)
		} else {
			v.absent(n)
		}
	}
	v.resolveGone()
	v.checkHead(head, headErr, len(segs) > 0)
	return &v.rep, nil
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
	v.rep.Problems = append(v.rep.Problems, Problem{Segment: seg, Entry: entry, Seq: seq, What: what, Detail: fmt.Sprintf(format, args...)})
}

// checkDigests verifies each digest's signature and its link to the one
// before.
func (v *verifier) checkDigests(digests []uint64) {
	for _, n := range digests {
		data, err := os.ReadFile(filepath.Join(v.dir, digestName(n)))
		if err != nil {
			v.problem(n, -1, 0, ProblemMissingDigest, "cannot read digest: %v", err)
			continue
		}
		d := new(segmentDigest)
		sig, err := openDoc(data, v.pub, domainDigest, d)
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

// absent handles a segment number with no segment file.
func (v *verifier) absent(n uint64) {
	d, ok := v.digests[n]
	if !ok {
		v.problem(n, -1, 0, ProblemMissingSegment, "%s and its digest are gone", segName(n))
		v.prevKnown = false
		return
	}
	v.gone = append(v.gone, n)
	v.prev, v.prevKnown = mustHash(d.LastHash)
	v.seq = d.LastSeq
}

func mustHash(s string) ([32]byte, bool) { return parseHash(s) }

// resolveGone accepts absent segments covered by a retention record.
func (v *verifier) resolveGone() {
	for _, n := range v.gone {
		if n <= v.expiredTo {
			v.rep.Expired++
			continue
		}
		v.problem(n, -1, 0, ProblemMissingSegment, "%s deleted without a retention record", segName(n))
	}
}

// checkSegment verifies the entries of segment n and, if closed, its digest.
func (v *verifier) checkSegment(n uint64, isLast bool) {
	data, err := os.ReadFile(filepath.Join(v.dir, segName(n)))
	if err != nil {
		v.problem(n, -1, 0, ProblemMissingSegment, "cannot read: %v", err)
		v.prevKnown = false
		return
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	entries := 0
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] != '\n' {
			v.problem(n, i, v.seq+1, ProblemTruncated, "last line of %d bytes has no newline: segment cut mid-entry", len(line))
			break
		}
		v.checkEntry(n, i, line[:len(line)-1])
		entries++
	}
	d, closed := v.digests[n]
	switch {
	case closed:
		v.checkAgainstDigest(n, d, data, entries)
	case !isLast:
		v.problem(n, -1, 0, ProblemMissingDigest, "closed segment has no signed digest")
	}
}

func (v *verifier) checkAgainstDigest(n uint64, d *segmentDigest, data []byte, entries int) {
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(data)) != d.Size {
		v.problem(n, -1, 0, ProblemDigestMismatch, "file is %d bytes with SHA-256 %x; the signed digest says %d bytes, %s (%d entries, seq %d..%d)",
			len(data), sum[:8], d.Size, d.SHA256[:16], d.Entries, d.FirstSeq, d.LastSeq)
	}
	if entries < d.Entries {
		v.problem(n, -1, 0, ProblemTruncated, "%d entries, the signed digest says %d", entries, d.Entries)
	}
	if h, ok := v.hashAt[d.LastSeq]; !ok || hex.EncodeToString(h[:]) != d.LastHash {
		v.problem(n, -1, d.LastSeq, ProblemChainBreak, "entry %d does not have the hash the signed digest names", d.LastSeq)
	}
}

// checkEntry verifies one entry's link, hash and sequence and counts it.
func (v *verifier) checkEntry(n uint64, i int, line []byte) {
	var l entryLine
	var b verifyBody
	if err := json.Unmarshal(line, &l); err != nil {
		v.problem(n, i, v.seq+1, ProblemCorruptEntry, "not an entry: %v", err)
		v.prevKnown = false
		return
	}
	prev, okPrev := parseHash(l.Prev)
	stored, okHash := parseHash(l.Hash)
	errBody := json.Unmarshal(l.Body, &b)
	if !okPrev || !okHash || errBody != nil {
		v.problem(n, i, v.seq+1, ProblemCorruptEntry, "malformed prev, hash or body")
		v.prevKnown = false
		return
	}
	if v.prevKnown && prev != v.prev {
		v.problem(n, i, b.Seq, ProblemChainBreak, "prev %x... does not match the hash %x... of the entry before", prev[:6], v.prev[:6])
	}
	if got := chainHash(prev, l.Body); got != stored {
		v.problem(n, i, b.Seq, ProblemHashMismatch, "content hashes to %x..., stored hash is %x...", got[:6], stored[:6])
	}
	if b.Seq != v.seq+1 {
		v.problem(n, i, b.Seq, ProblemSequenceGap, "seq %d follows seq %d", b.Seq, v.seq)
	}
	v.prev, v.prevKnown, v.seq = stored, true, b.Seq
	v.hashAt[b.Seq] = stored
	v.count(&b)
}

// verifyBody decodes what Verify counts, without whole records.
type verifyBody struct {
	entryHeader
	Records []struct {
		Time time.Time `json:"time"`
	} `json:"records"`
	Events []json.RawMessage `json:"events"`
}

func (v *verifier) count(b *verifyBody) {
	switch b.Kind {
	case KindBatch:
		v.rep.Batches++
		v.rep.Records += len(b.Records)
		for _, r := range b.Records {
			if v.rep.First.IsZero() || r.Time.Before(v.rep.First) {
				v.rep.First = r.Time
			}
			if r.Time.After(v.rep.Last) {
				v.rep.Last = r.Time
			}
		}
	case KindEvents:
		v.rep.Events += len(b.Events)
	case KindRetention:
		v.expiredTo = max(v.expiredTo, b.ExpiredThrough)
	}
}

func (v *verifier) readHead() (*storeHead, error) {
	data, err := os.ReadFile(filepath.Join(v.dir, headFile))
	if err != nil {
		return nil, err
	}
	h := new(storeHead)
	if _, err := openDoc(data, v.pub, domainHead, h); err != nil {
		return nil, err
	}
	return h, nil
}

// checkHead compares the chain's end with the signed head.
func (v *verifier) checkHead(h *storeHead, err error, any bool) {
	switch {
	case errors.Is(err, os.ErrNotExist):
		if any {
			v.problem(0, -1, 0, ProblemMissingHead, "%s is gone", headFile)
		}
		return
	case err != nil:
		v.problem(0, -1, 0, ProblemBadSignature, "%s: %v", headFile, err)
		return
	}
	if v.seq < h.Seq {
		v.problem(h.Segment, -1, h.Seq, ProblemTruncated, "chain ends at seq %d but the signed head names seq %d: newest entries removed", v.seq, h.Seq)
		return
	}
	if got, ok := v.hashAt[h.Seq]; !ok || hex.EncodeToString(got[:]) != h.Hash {
		v.problem(h.Segment, -1, h.Seq, ProblemChainBreak, "entry %d does not have the hash the signed head names", h.Seq)
	}
	v.rep.Unsigned = int(v.seq - h.Seq)
}
