package collector

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Entry kinds in the hash chain.
const (
	KindBatch     = "batch"     // one OTLP batch of audit records
	KindEvents    = "events"    // control-plane lifecycle events
	KindRetention = "retention" // whole segments deleted by the retention policy
)

// Names of the files in a store directory.
const (
	segPrefix    = "seg-"
	segSuffix    = ".log"
	digestSuffix = ".digest"
	headFile     = "head.json"
)

func segName(n uint64) string    { return fmt.Sprintf("%s%08d%s", segPrefix, n, segSuffix) }
func digestName(n uint64) string { return fmt.Sprintf("%s%08d%s", segPrefix, n, digestSuffix) }

// entryLine is one line of a segment file: the chain link and the body it
// covers, hash = SHA-256(prev || body) over the exact body bytes, and the
// collector's Ed25519 signature of the hash. The signature makes the newest
// entry trustworthy before the head names it (a crash between the two
// leaves a signed entry, a forged tail an unsigned one: issue 21, item 1).
type entryLine struct {
	Prev string          `json:"prev"`
	Hash string          `json:"hash"`
	Sig  string          `json:"sig,omitempty"`
	Body json.RawMessage `json:"body"`
}

// decodeEntryLine decodes a segment line into l. Lines are written by
// appendEntryLine in one shape, which is read without a JSON pass over the
// body (BenchmarkPack in package evidence: the scans of 10 million records
// went to encoding/json validating each body twice); any other shape goes
// to encoding/json, so what it rejects is rejected still.
func decodeEntryLine(line []byte, l *entryLine) error {
	if fastEntryLine(line, l) {
		return nil
	}
	*l = entryLine{}
	return json.Unmarshal(line, l)
}

// fastEntryLine decodes a line of appendEntryLine's shape into l and
// reports whether it was of that shape.
func fastEntryLine(line []byte, l *entryLine) bool {
	rest, ok := bytes.CutPrefix(line, []byte(`{"prev":"`))
	if !ok || len(rest) < 64+10+64 || string(rest[64:64+10]) != `","hash":"` || !bytes.HasSuffix(rest, []byte("}")) {
		return false
	}
	prev, hash := rest[:64], rest[74:138]
	if !isHex(prev) || !isHex(hash) {
		return false
	}
	rest, sig := rest[138:], []byte(nil)
	if r, ok := bytes.CutPrefix(rest, []byte(`","sig":"`)); ok {
		i := bytes.IndexByte(r, '"')
		if i < 0 || !isBase64(r[:i]) {
			return false
		}
		sig, rest = r[:i], r[i:]
	}
	body, ok := bytes.CutPrefix(rest, []byte(`","body":`))
	if !ok {
		return false
	}
	l.Prev, l.Hash, l.Sig, l.Body = string(prev), string(hash), string(sig), body[:len(body)-1]
	return true
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isBase64(b []byte) bool {
	for _, c := range b {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '+' && c != '/' && c != '=' {
			return false
		}
	}
	return true
}

// domainEntry keeps an entry signature from passing for anything else.
const domainEntry = "portcullis-audit-entry-v1\n"

// entryMessage is what an entry signature covers: the domain and the hash.
func entryMessage(hash [32]byte) (msg [len(domainEntry) + 32]byte) {
	copy(msg[:], domainEntry)
	copy(msg[len(domainEntry):], hash[:])
	return msg
}

// signEntry signs an entry hash.
func signEntry(key ed25519.PrivateKey, hash [32]byte) []byte {
	msg := entryMessage(hash)
	return ed25519.Sign(key, msg[:])
}

// signedBy reports whether the line's signature of hash verifies with pub.
func (l *entryLine) signedBy(pub ed25519.PublicKey, hash [32]byte) bool {
	sig, err := base64.StdEncoding.DecodeString(l.Sig)
	msg := entryMessage(hash)
	return err == nil && l.Sig != "" && ed25519.Verify(pub, msg[:], sig)
}

// entryHeader holds the body fields every reader needs.
type entryHeader struct {
	Seq            uint64     `json:"seq"`
	Kind           string     `json:"kind"`
	Time           time.Time  `json:"time"`
	BatchID        string     `json:"batch_id,omitempty"`
	Sender         string     `json:"sender,omitempty"`
	Segment        uint64     `json:"segment,omitempty"`
	ExpiredThrough uint64     `json:"expired_through,omitempty"`
	LastHash       string     `json:"last_hash,omitempty"`
	Events         []eventKey `json:"events,omitempty"`
	// DurableHead is the seq of the newest head the collector had
	// written durably (the directory fsync'd after its rename) before
	// this entry: no crash leaves head.json older than that while the
	// entry stands (Store.durableHead). 0 (omitted): none yet, or an
	// entry of a collector before the field.
	DurableHead uint64 `json:"durable_head,omitempty"`
	// Counted says the collector had published a head numbered with
	// its etcd key's count before this entry (Store.counted).
	Counted bool `json:"counted,omitempty"`

	// records is a batch's number of records; recovery alone counts them
	// (chainLinkOf), for the answer to a duplicate (dedup.records).
	records int
	// replay is the token of the replay that stored a batch (its
	// "replay" field, appendReplay; 0: none), read by recovery alone
	// (chainLinkOf), for the answer to a duplicate (dedup.storedBy).
	replay uint64
	// replayUnknown says a batch has no "replay" field: a collector
	// before the field stored it, and which request did is not known.
	replayUnknown bool
	// retentionSeconds is a retention entry's period, read by recovery
	// alone (chainLinkOf), for Store.expiredAccounted.
	retentionSeconds int64
	// counts are a batch's believed counts by second, read by recovery
	// alone for an entry within the window its sender's sums are summed
	// again from (Store.entryCounts).
	counts []secondSum
}

// eventKey identifies a lifecycle event: its etcd key and the revision of
// its write.
type eventKey struct {
	Key      string `json:"key"`
	Revision int64  `json:"revision"`
	Cluster  uint64 `json:"cluster,omitempty"`
	// Action is the event's, read for the store's witness (eventmarks.go);
	// never part of the event's identity.
	Action string `json:"action,omitempty"`
}

// Entry is one decoded entry of the chain, as ScanEntries yields it.
type Entry struct {
	Segment uint64   // segment number
	Index   int      // position in the segment, from 0
	Seq     uint64   // position in the whole chain, from 1
	Hash    [32]byte // the entry's chain hash
	Kind    string
	Time    time.Time // when the collector stored it
	BatchID string
	Sender  string // who sent the batch, as the collector authenticated it
	Service string
	Host    string
	// Instance is the sending sidecar's service.instance.id (a pod name
	// under Kubernetes), so that one sender token shared by a fleet still
	// tells its sidecars apart.
	Instance string
	Pod      string // the sender's k8s.pod.name, "" when it sent none
	// BoundTenants are the tenants the sender was bound to when the
	// collector stored the batch (comma-separated, sorted; its records
	// were checked against them), "" when it was bound to none and could
	// name any tenant.
	BoundTenants string
	Records      []StoredRecord
	Events       []Event
	// ExpiredSegment and ExpiredThrough describe a retention entry.
	ExpiredSegment uint64
	ExpiredThrough uint64
	// Verified is set by a pass with Pass.MarkVerified when the entry
	// hashes to its stored hash, links to the entry before it in the
	// chain, has the next seq and carries the collector's signature.
	Verified bool
}

// entryBody is the full body decoding used by ScanEntries.
type entryBody struct {
	entryHeader
	Service  string `json:"service"`
	Host     string `json:"host"`
	Instance string `json:"instance"`
	Pod      string `json:"pod"`
	// BoundTenants is Entry.BoundTenants.
	BoundTenants string `json:"bound_tenants"`
	// Replay is a batch's "replay" field (appendReplay), not read further.
	Replay  string         `json:"replay"`
	Records []StoredRecord `json:"records"`
	Events  []Event        `json:"events"`
}

// chainHash returns SHA-256(prev || body).
func chainHash(prev [32]byte, body []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// appendEntryLine appends the segment line for body, with the entry
// signature sig when it is not nil.
func appendEntryLine(dst []byte, prev, hash [32]byte, sig, body []byte) []byte {
	dst = append(dst, `{"prev":"`...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, `","hash":"`...)
	dst = hex.AppendEncode(dst, hash[:])
	if sig != nil {
		dst = append(dst, `","sig":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, sig)
	}
	dst = append(dst, `","body":`...)
	dst = append(dst, body...)
	return append(dst, "}\n"...)
}

// parseHash decodes a 64-digit hex hash.
func parseHash(s string) ([32]byte, bool) {
	var h [32]byte
	if len(s) != 64 {
		return h, false
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err == nil
}

// listSegments returns the segment and digest numbers present in dir, sorted.
func listSegments(dir string) (segs, digests []uint64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("collector: cannot list store directory %q: %w", dir, err)
	}
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), segPrefix)
		if !ok {
			continue
		}
		if n, ok := cutNumber(name, segSuffix); ok {
			segs = append(segs, n)
		} else if n, ok := cutNumber(name, digestSuffix); ok {
			digests = append(digests, n)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	sort.Slice(digests, func(i, j int) bool { return digests[i] < digests[j] })
	return segs, digests, nil
}

// cutNumber parses the number of a segment or digest name (its prefix
// cut off) written as segName writes it: eight digits or more, padded with
// zeros to eight and never past them, so each number has one name. Eight
// digits only were taken before: segment 100,000,000 (seg-100000000.log),
// which the collector writes after 99,999,999, was no file of the store
// to the start, verify or retention (TestSegmentNumbersPastEightDigitsListed,
// TestStoreRunsPastSegment99999999).
func cutNumber(name, suffix string) (uint64, bool) {
	num, ok := strings.CutSuffix(name, suffix)
	if !ok || len(num) < 8 || len(num) > 8 && num[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

// segmentLines calls fn for every complete line of a segment file (without
// its newline). It returns the byte length of the complete lines and
// whether a partial line (no newline) follows them. The file must be a
// regular file (not a symlink or FIFO) and no line may pass MaxEntryBytes.
func segmentLines(path string, fn func(i int, line []byte) error) (good int64, partial bool, err error) {
	f, _, err := openRegular(path)
	if err != nil {
		return 0, false, fmt.Errorf("collector: cannot open segment %q: %w", path, err)
	}
	defer f.Close()
	lr := newLineReader(f, MaxEntryBytes)
	defer lr.release()
	for i := 0; ; i++ {
		line, err := lr.next()
		if errors.Is(err, io.EOF) {
			return good, len(line) > 0, nil
		}
		if err != nil {
			return good, false, fmt.Errorf("collector: cannot read segment %q: %w", path, err)
		}
		good += int64(len(line))
		if err := fn(i, line[:len(line)-1]); err != nil {
			return good, false, err
		}
	}
}

// ScanEntries calls fn for every readable entry of the store in dir, oldest
// first. It does not verify the chain (Verify does); a corrupt line is
// skipped, and so are entries the collector did not vouch for: those after
// the head it signed, and those it excluded at recovery (see KindBreak).
// A directory that holds no store is an error. fn must not keep e past the
// call.
func ScanEntries(dir string, fn func(e *Entry) error) error {
	_, err := scanEntries(dir, nil, nil, 0, nil, fn)
	return err
}

// ErrPositionNotFound is returned (wrapped) by ScanEntriesAfter when the
// trail holds no entry at the given position with the given hash.
var ErrPositionNotFound = errors.New("collector: position not in the trail")

// ScanEntriesAfter is ScanEntries for the entries after position seq, whose
// entry must be in the trail with the given hash (else, before fn is
// called, ErrPositionNotFound): a reader that kept its state up to seq
// (alert.Engine's snapshot, issue 14) reads only what follows. Segments
// whose digest ends before seq are not read. It returns the number of
// segment lines read.
func ScanEntriesAfter(dir string, seq uint64, hash [32]byte, fn func(e *Entry) error) (int, error) {
	if seq == 0 {
		return 0, fmt.Errorf("%w: seq 0", ErrPositionNotFound)
	}
	return scanEntries(dir, nil, nil, seq, &hash, fn)
}

// ScanVerifiedEntries is ScanEntries (after 0) or ScanEntriesAfter that
// also checks each entry on its own as VerifyWith does, with the same
// checker (chainCursor): it hashes to its stored hash, links to the entry
// before it and has the next seq (the first entry of the trail to none,
// seq 1; the first after the oldest segments, expired, to the last one
// their signed digest names; the first after the position to the entry
// at after),
// and carries the collector's signature (pub) of its hash; it sets
// Entry.Verified when it does. An entry whose entry before is not known
// (after a line that is not an entry, or a segment gone from the middle
// of the trail) fails. Once the position is found, every line is
// checked, whatever seq it claims. A line longer than MaxEntryBytes fails
// too, and the rest of its segment is not read, as in VerifyWith (it
// ended the scan with an error). Only the head and the digests pub
// signed are believed: which entries lie past the head (not yielded,
// unless pub signed them too),
// past a break's trusted entries (not yielded) or before the position
// (segments not read). fn is called for the entries that fail
// too (a line that is not an entry as one with only its Segment and
// Index), so that a reader that rebuilds state from the trail
// (alert.Engine at the collector's start) can name and skip them.
func ScanVerifiedEntries(dir string, pub ed25519.PublicKey, after uint64, hash [32]byte, fn func(e *Entry) error) (int, error) {
	h := &hash
	if after == 0 {
		h = nil
	}
	keys, err := LoadKeys(dir, pub)
	if err != nil {
		return 0, err
	}
	return scanEntriesWith(entryScanner{keys: keys.r, after: after, hash: h, fn: fn, found: h == nil,
		chainCursor: chainCursor{prevKnown: h == nil}}, dir)
}

// scanEntries calls fn for the entries after position after (0: all) that
// want keeps (nil: all; an entry it skips is not decoded: QueryEvents over
// a store of millions of records, BenchmarkPack in package evidence); with
// a hash, the entry at after must have it. With reuse, an entry's records
// are overwritten by the next entry's. It returns the lines read.
func scanEntries(dir string, want func(line []byte) bool, reuse *bodyBuffers, after uint64, hash *[32]byte, fn func(e *Entry) error) (int, error) {
	return scanEntriesWith(entryScanner{want: want, reuse: reuse, after: after, hash: hash, fn: fn, found: hash == nil}, dir)
}

// scanEntriesWith runs sc over the store in dir.
func scanEntriesWith(sc entryScanner, dir string) (int, error) {
	segs, digests, err := listStore(dir)
	if err != nil {
		return 0, err
	}
	return scanListed(sc, dir, segs, digests)
}

// scanListed is scanEntriesWith of the segments and digests listed. A
// listed segment gone at its open is skipped as one absent from the list
// when retention accounts for it (vanished), as verify does.
func scanListed(sc entryScanner, dir string, segs, digests []uint64) (int, error) {
	g := vanished{dir: dir}
	if sc.keys == nil {
		sc.headSeq = unverifiedHeadSeq(dir)
	} else {
		// A scan that checks believes only what pub signed: a head or
		// digest written by anyone else hid entries from it.
		sc.headSeq = signedHeadSeq(dir, sc.keys)
		sc.digests = signedDigests(dir, digests, sc.keys)
	}
	for _, n := range segs {
		if sc.after > 0 && sc.lastSeq(dir, n) < sc.after {
			continue // ends before the position: not read
		}
		if sc.keys != nil && n != sc.seg+1 {
			sc.fromGone(n - 1)
		}
		seg := sc.seg
		sc.seg, sc.last, sc.limit = n, n == segs[len(segs)-1], sc.trusted(dir, n)
		from := sc.lines
		if _, _, err := segmentLines(filepath.Join(dir, segName(n)), g.lines(sc.line)); err != nil {
			if g.note(n, err) {
				sc.seg = seg // as if not listed: the next segment goes on from it gone (fromGone)
				continue
			}
			if sc.keys == nil || !errors.Is(err, errLineTooLong) {
				return sc.lines, err
			}
			// As the verifier: the line fails its checks and the rest of
			// the segment, which cannot be read past it, is left out. It
			// stopped the replay, and the collector's start, for good.
			if err := sc.tooLong(sc.lines - from); err != nil {
				return sc.lines, err
			}
		}
		if d := sc.digests[n]; d != nil && d.Break != "" {
			sc.resume(d) // as the verifier goes on after a break (afterBreak)
		}
	}
	if err := g.check(time.Now()); err != nil {
		return sc.lines, err
	}
	if !sc.found {
		return sc.lines, fmt.Errorf("%w: no entry %d with hash %x in %q", ErrPositionNotFound, sc.after, sc.hash[:], dir)
	}
	return sc.lines, nil
}

// entryScanner is the state of one scanEntries.
type entryScanner struct {
	want    func(line []byte) bool
	reuse   *bodyBuffers
	after   uint64
	hash    *[32]byte
	found   bool // the entry at after was found with its hash (or none was asked for)
	headSeq uint64
	seg     uint64
	last    bool // seg is the newest segment
	limit   int
	lines   int
	fn      func(e *Entry) error
	// pub, when set, has each entry checked on its own (check) against
	// the entry before (chainCursor), as the verifier does, through the
	// digests pub signed.
	keys    *keyRing
	digests map[uint64]*segmentDigest
	chainCursor
}

// check checks line l, of entry seq, on its own as verify's checkEntry
// does (hash, link and seq, signature: a link to the last entry that
// passed, past lines that failed, passes: chainCursor.follows), and goes
// on from it.
func (sc *entryScanner) check(l *entryLine, seq uint64) bool {
	prev, stored, ok := l.links()
	if !ok {
		sc.lose()
		return false
	}
	follows, copied := sc.follows(prev, seq), sc.copied(seq)
	f := sc.next(prev, stored, chainHash(prev, l.Body), seq)
	ok = !copied && (f.none() || !f.edited && follows) && l.signedBy(sc.keys.at(sc.seg), stored)
	if ok {
		sc.vouch(stored, seq)
	}
	return ok
}

// lastSeq is the last seq of segment n by its digest, signed by pub for
// a scan that checks (digestLastSeq).
func (sc *entryScanner) lastSeq(dir string, n uint64) uint64 {
	if sc.keys == nil {
		return digestLastSeq(dir, n)
	}
	if d := sc.digests[n]; d != nil && d.LastSeq > 0 {
		return d.LastSeq
	}
	return math.MaxUint64
}

// trusted is how many lines of segment n belong to the chain (-1: all)
// by its digest, signed by pub for a scan that checks (trustedLimit).
func (sc *entryScanner) trusted(dir string, n uint64) int {
	if sc.keys == nil {
		return trustedLimit(dir, n)
	}
	return trustedEntries(sc.digests[n])
}

// fromGone goes on after segment n, not read (its file gone): before
// the first segment read, from the last entry its signed digest names
// (retention expires the oldest segments), as the verifier does; else
// from nothing known. A segment gone after one read is no expiry: the
// verifier reports it missing (resolveGone), and the scan, which has no
// report, fails the entry after it.
func (sc *entryScanner) fromGone(n uint64) {
	if d := sc.digests[n]; d != nil && sc.seg == 0 {
		sc.resume(d)
		return
	}
	sc.lose()
}

// tooLong takes line i of the current segment, longer than
// MaxEntryBytes, as a line that is not an entry.
func (sc *entryScanner) tooLong(i int) error {
	sc.lines++
	if sc.after == 0 || sc.found {
		return sc.failed(i)
	}
	return nil
}

// failed gives fn line i of the current segment as an entry that failed
// its checks, when entries are checked.
func (sc *entryScanner) failed(i int) error {
	if sc.keys == nil {
		return nil
	}
	sc.lose()
	return sc.fn(&Entry{Segment: sc.seg, Index: i})
}

// line takes line i of the current segment.
func (sc *entryScanner) line(i int, line []byte) error {
	sc.lines++
	if sc.limit >= 0 && i >= sc.limit {
		return nil
	}
	if sc.after == 0 && sc.want != nil && !sc.want(line) {
		return nil
	}
	var l entryLine
	if decodeEntryLine(line, &l) != nil {
		if sc.after == 0 || sc.found {
			return sc.failed(i)
		}
		return nil
	}
	if sc.after > 0 && !(sc.found && sc.keys != nil) { // before the position (a scan that checks takes every line after it)
		var h struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(l.Body, &h) != nil {
			if sc.found {
				return sc.failed(i)
			}
			return nil
		}
		if h.Seq < sc.after || sc.hidden(&l, h.Seq) {
			return nil
		}
		if h.Seq == sc.after {
			got, ok := parseHash(l.Hash)
			sc.found = sc.found || ok && sc.hash != nil && got == *sc.hash
			sc.prev, sc.got, sc.seq, sc.prevKnown = got, got, h.Seq, sc.found
			if sc.found {
				sc.vouch(got, h.Seq)
				sc.passedSeqs.through(h.Seq) // entries before the position are not read
			}
			return nil
		}
		if !sc.found {
			return fmt.Errorf("%w: entry %d is not in the trail with the hash asked for", ErrPositionNotFound, sc.after)
		}
		if sc.want != nil && !sc.want(line) {
			return nil
		}
	}
	var b entryBody
	if decodeBody(l.Body, &b, sc.reuse) != nil {
		return sc.failed(i)
	}
	if sc.hidden(&l, b.Seq) {
		return nil
	}
	hash, _ := parseHash(l.Hash)
	verified := sc.keys != nil && sc.check(&l, b.Seq)
	return sc.fn(&Entry{Segment: sc.seg, Index: i, Seq: b.Seq, Hash: hash, Kind: b.Kind, Time: b.Time, BatchID: b.BatchID,
		Sender: b.Sender, Service: b.Service, Host: b.Host, Instance: b.Instance, Pod: b.Pod, BoundTenants: b.BoundTenants, Records: b.Records, Events: b.Events,
		ExpiredSegment: b.Segment, ExpiredThrough: b.ExpiredThrough, Verified: verified})
}

// beyondHead reports whether seq, in the newest segment, lies after the
// head the collector signed.
func (sc *entryScanner) beyondHead(seq uint64) bool {
	return sc.headSeq > 0 && seq > sc.headSeq && sc.last
}

// hidden reports whether line l, of entry seq, is not yielded: it lies
// beyond the head and, for a scan that checks, the collector's key did
// not sign it. A signed entry past the head is one the verifier vouches
// for (a crash before the head was renamed, or a head.json put back from
// an older copy, which hid every entry after it in the newest segment:
// TestOlderHeadHidesNoSignedEntry).
func (sc *entryScanner) hidden(l *entryLine, seq uint64) bool {
	if !sc.beyondHead(seq) || sc.keys == nil {
		return sc.beyondHead(seq)
	}
	h, ok := parseHash(l.Hash)
	return !ok || !l.signedBy(sc.keys.at(sc.seg), h)
}

// signedDigests returns the digests of segments nums in dir that pub
// signed, by segment; one that cannot be read or does not verify is left
// out, as the verifier leaves it out (checkDigests).
func signedDigests(dir string, nums []uint64, keys *keyRing) map[uint64]*segmentDigest {
	out := make(map[uint64]*segmentDigest, len(nums))
	for _, n := range nums {
		d := new(segmentDigest)
		data, err := readRegular(filepath.Join(dir, digestName(n)), maxDocBytes)
		if err == nil {
			_, err = openDoc(data, keys.at(n), domainDigest, d)
		}
		if err == nil {
			out[n] = d
		}
	}
	return out
}

// trustedEntries is how many lines of the segment of digest d belong to
// the chain: d.TrustedEntries of a segment sealed over a break, else -1
// (all); d is one the verifier or a scan that checks found signed.
func trustedEntries(d *segmentDigest) int {
	if d != nil && d.Break != "" {
		return d.TrustedEntries
	}
	return -1
}

// signedHeadSeq is the seq of the head in dir when pub signed it, else 0.
func signedHeadSeq(dir string, keys *keyRing) uint64 {
	data, err := readRegular(filepath.Join(dir, headFile), maxDocBytes)
	var h storeHead
	if err != nil {
		return 0
	}
	if _, err := keys.openHead(data, &h); err != nil {
		return 0
	}
	return h.Seq
}

// digestLastSeq returns the last seq of segment n by its digest
// (unverified), or the largest seq when it has none: a skip, never a
// trust decision.
func digestLastSeq(dir string, n uint64) uint64 {
	data, err := readRegular(filepath.Join(dir, digestName(n)), maxDocBytes)
	if err != nil {
		return math.MaxUint64
	}
	var d signedDoc
	var sd segmentDigest
	if json.Unmarshal(data, &d) != nil || json.Unmarshal(d.Payload, &sd) != nil || sd.LastSeq == 0 {
		return math.MaxUint64
	}
	return sd.LastSeq
}

// kindField opens the body's kind. The first occurrence in a line is the
// body's: the fields before it (prev, hash, sig, the body's seq) are hex,
// base64 and a number.
const kindField = `,"kind":"`

// isBatch reports whether the entry line's body is a batch (records).
func isBatch(line []byte) bool { return isKind(line, KindBatch) }

// batchEvents opens a batch body's events (the alert events detection
// derived from the batch, issue 14), written after its records only when
// there are some. Record fields are strings, numbers, a string map and a
// string list, so the bytes cannot occur in a record: a quote inside a
// string is escaped.
const batchEvents = `,"events":[`

// hasEvents reports whether the entry line's body may hold events: an
// events entry, or a batch that carries alert events; a batch without is
// not decoded.
func hasEvents(line []byte) bool {
	if !isKind(line, KindBatch) {
		return true
	}
	return bytes.LastIndex(line, []byte(batchEvents)) >= 0
}

// isKind reports whether the entry line's body is of kind.
func isKind(line []byte, kind string) bool {
	i := bytes.Index(line, []byte(kindField))
	if i < 0 {
		return true // let the decoder judge it
	}
	rest := line[i+len(kindField):]
	return len(rest) > len(kind) && string(rest[:len(kind)]) == kind && rest[len(kind)] == '"'
}

// ErrNoStore is returned (wrapped) for a directory that holds no audit
// store: no marker, segment, digest or head (issue 13, item 10).
var ErrNoStore = errors.New("collector: no audit store")

// listStore is listSegments for a directory that must hold a store.
func listStore(dir string) (segs, digests []uint64, err error) {
	segs, digests, err = listSegments(dir)
	if err != nil || len(segs)+len(digests) > 0 {
		return segs, digests, err
	}
	for _, name := range []string{storeMarker, headFile} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return nil, nil, nil
		}
	}
	return nil, nil, fmt.Errorf("%w in %q: no %s, segments, digests or head; check --data", ErrNoStore, dir, storeMarker)
}

// IsEmpty reports whether the store in dir holds no segment. It is an
// error (ErrNoStore) when dir is not a store.
func IsEmpty(dir string) (bool, error) {
	segs, digests, err := listStore(dir)
	return len(segs)+len(digests) == 0, err
}

// unverifiedHeadSeq reads the head's seq without checking its signature
// (Verify does); 0 when there is none.
func unverifiedHeadSeq(dir string) uint64 {
	data, err := readRegular(filepath.Join(dir, headFile), maxDocBytes)
	if err != nil {
		return 0
	}
	return unverifiedSeq(data)
}

// trustedLimit returns how many lines of segment n belong to the chain
// according to its digest (unverified), or -1 for all of them.
func trustedLimit(dir string, n uint64) int {
	data, err := readRegular(filepath.Join(dir, digestName(n)), maxDocBytes)
	if err != nil {
		return -1
	}
	var d signedDoc
	var sd segmentDigest
	if json.Unmarshal(data, &d) != nil || json.Unmarshal(d.Payload, &sd) != nil || sd.Break == "" {
		return -1
	}
	return sd.TrustedEntries
}
