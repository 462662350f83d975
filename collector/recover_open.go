// Recovery of the open segment: the walk that checks each entry's link from the chain tip, then
// reopening it for appends, or, past a broken entry, sealing it as it is and recording a break
// entry.

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
	"os"
	"path/filepath"
	"time"
)

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
		w.ids = append(w.ids, entryHeader{Kind: h.Kind, Time: h.Time, BatchID: h.BatchID, Sender: h.Sender, Events: h.Events, Segment: h.Segment, retentionSeconds: h.retentionSeconds, records: h.records, replay: h.replay, replayUnknown: h.replayUnknown, counts: s.entryCounts(h, line[:len(line)-1])})
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
		Replay           *string     `json:"replay"`
	}
	if json.Unmarshal(line, l) != nil || json.Unmarshal(l.Body, &body) != nil {
		return nil, hash, "not an entry"
	}
	h = &body.entryHeader
	h.records, h.retentionSeconds = int(body.Records), body.RetentionSeconds
	if h.replayUnknown = body.Replay == nil; !h.replayUnknown {
		h.replay = replayToken(*body.Replay)
	}
	p, hash, ok := l.links()
	if !ok {
		return nil, hash, "malformed prev or hash"
	}
	c := chainCursor{prev: prev, got: prev, seq: seq, prevKnown: true}
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
