package collector

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// KindKeyRotation is the chain entry that hands the store from one signing
// key to the next. The collector writes it when started with the new key
// and the old one (StoreConfig.PreviousKey): it seals the open segment
// with the old key, and the entry opens the next segment. Its body names
// both public keys and carries the old key's signature of the chain
// position (the hash before it, its seq) and the two keys; its line is
// signed by the new key, like every entry, digest and head of its segment
// and of those after it. So each link between two keys is signed by both,
// and the hash it chains to pins every entry before it: no one without
// the old key can hand the chain to a key of theirs, and no one holding
// only an old key can sign anything past the rotation.
const KindKeyRotation = "key_rotation"

// domainRotation keeps the old key's signature of a rotation from passing
// for anything else.
const domainRotation = "portcullis-audit-key-rotation-v1\n"

// rotationBody is the body of a KindKeyRotation entry.
type rotationBody struct {
	Seq  uint64    `json:"seq"`
	Kind string    `json:"kind"`
	Time time.Time `json:"time"`
	// Segment is the segment the rotation opens, so that its copy in
	// rotationsFile says where the new key signs from.
	Segment uint64 `json:"segment"`
	OldKey  string `json:"old_key"`
	NewKey  string `json:"new_key"`
	OldSig  string `json:"old_sig"`
}

// rotationMessage is what the old key signs: the domain, the hash the
// entry chains to, its seq and the two public keys.
func rotationMessage(prev [32]byte, seq uint64, old, next ed25519.PublicKey) []byte {
	msg := make([]byte, 0, len(domainRotation)+32+8+2*ed25519.PublicKeySize)
	msg = append(msg, domainRotation...)
	msg = append(msg, prev[:]...)
	msg = binary.BigEndian.AppendUint64(msg, seq)
	msg = append(msg, old...)
	return append(msg, next...)
}

// keyRing is a store's signing keys by segment: keys[i] signs the
// segments from from[i] on (from[0] is 0). A store never rotated has one.
type keyRing struct {
	keys  []ed25519.PublicKey
	from  []uint64
	seqs  []uint64 // seqs[i]: the seq of the rotation to keys[i] (seqs[0] is 0)
	lines [][]byte // the rotations' lines, for rotationsFile
}

// ringOf is the ring of a store signed by pub alone.
func ringOf(pub ed25519.PublicKey) *keyRing {
	return &keyRing{keys: []ed25519.PublicKey{pub}, from: []uint64{0}, seqs: []uint64{0}}
}

// at returns the key that signs segment n and its entries, digest and
// the heads naming it.
func (r *keyRing) at(n uint64) ed25519.PublicKey {
	k := r.keys[0]
	for i, f := range r.from {
		if n >= f {
			k = r.keys[i]
		}
	}
	return k
}

// last is the key the store signs with now.
func (r *keyRing) last() ed25519.PublicKey { return r.keys[len(r.keys)-1] }

// has reports whether pub is one of the ring's keys.
func (r *keyRing) has(pub ed25519.PublicKey) bool {
	for _, k := range r.keys {
		if k.Equal(pub) {
			return true
		}
	}
	return false
}

// opens reports whether a rotation hands the ring to a new key at
// segment n.
func (r *keyRing) opens(n uint64) bool {
	for _, f := range r.from[1:] {
		if f == n {
			return true
		}
	}
	return false
}

// ringFor is the ring of the store in dir, nil for pub nil (a reader
// that checks nothing).
func ringFor(dir string, segs []uint64, pub ed25519.PublicKey) (*keyRing, error) {
	if pub == nil {
		return nil, nil
	}
	return loadRing(dir, segs, pub)
}

// key is at(n), nil for a nil ring.
func (r *keyRing) key(n uint64) ed25519.PublicKey {
	if r == nil {
		return nil
	}
	return r.at(n)
}

// add hands the ring over to pub from segment n on, at the rotation
// entry seq.
func (r *keyRing) add(n, seq uint64, pub ed25519.PublicKey) {
	r.keys = append(r.keys, pub)
	r.from = append(r.from, n)
	r.seqs = append(r.seqs, seq)
}

// until is the seq of the rotation away from the key that signs segment
// n (0: that key is the newest): the key signed no entry, and no head,
// from it on.
func (r *keyRing) until(n uint64) uint64 {
	i := 0
	for j, f := range r.from {
		if n >= f {
			i = j
		}
	}
	if i+1 < len(r.seqs) {
		return r.seqs[i+1]
	}
	return 0
}

// ErrKeyNotInStore is returned (wrapped) by LoadKeys when the public key
// given is none of the keys the store's rotations hand it between.
var ErrKeyNotInStore = errors.New("collector: the public key is not one of the store's signing keys")

// LoadKeys reads the key rotations of the store in dir and returns its
// signing keys: pub alone for a store never rotated, else the keys its
// rotation entries hand it between, which must include pub. Each
// rotation must verify (its line by the new key, its body by the old one,
// the old key the one before it): one that does not is an error, never
// skipped. It checks no entry but the rotations: Verify checks the chain.
func LoadKeys(dir string, pub ed25519.PublicKey) (*KeyRing, error) {
	segs, _, err := listStore(dir)
	if err != nil {
		return nil, err
	}
	r, err := loadRing(dir, segs, pub)
	if err != nil {
		return nil, err
	}
	return &KeyRing{r: r}, nil
}

// KeyRing is a store's signing keys by position in its chain (LoadKeys).
type KeyRing struct{ r *keyRing }

// Rotations is how many times the store's key was rotated.
func (k *KeyRing) Rotations() int { return len(k.r.keys) - 1 }

// OpenHead checks a published head against the key that signs the
// segment it names: the key before a rotation for a head naming an entry
// before it, the key after for one naming the rotation or an entry after.
func (k *KeyRing) OpenHead(doc []byte) (*PublishedHead, error) {
	var h storeHead
	if _, err := k.r.openHead(doc, &h); err != nil {
		return nil, fmt.Errorf("collector: published head does not verify with the store's key at its position: %w", err)
	}
	return &PublishedHead{Seq: h.Seq, Hash: h.Hash, Time: h.Time, Publication: h.Publication, KeyCreated: h.KeyCreated}, nil
}

// openHead opens a signed head with the key of the segment it names. A
// head naming an entry at or past the rotation away from that key is
// refused: that key signed nothing there (a leaked old key would date
// heads past the rotation).
func (r *keyRing) openHead(doc []byte, h *storeHead) (string, error) {
	seg := unverifiedHead(doc).Segment
	sig, err := openDoc(doc, r.at(seg), domainHead, h)
	if err != nil {
		return "", err
	}
	if end := r.until(seg); end != 0 && h.Seq >= end {
		return "", fmt.Errorf("it names segment %d and entry %d, at or past the key rotation at entry %d away from the key that signs that segment", seg, h.Seq, end)
	}
	return sig, nil
}

// rotationsFile keeps a copy of every rotation entry's line, so that the
// keys stay known when retention deletes the segment a rotation opens
// (the digests before it, kept, are the old key's). A copy is checked as
// the entry is; one of a segment still present must be its first line.
const rotationsFile = "key-rotations.log"

// readCopies reads rotationsFile: the rotations by segment, checked.
func readCopies(dir string) (map[uint64]*rotation, error) {
	data, err := readRegular(filepath.Join(dir, rotationsFile), maxDocBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("collector: cannot read %s: %w", rotationsFile, err)
	}
	out := map[uint64]*rotation{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		rot, why := checkRotationLine(line)
		if why != "" {
			return nil, fmt.Errorf("collector: a key rotation in %s does not verify: %s", rotationsFile, why)
		}
		out[rot.body.Segment] = rot
	}
	return out, nil
}

// loadRing is LoadKeys of the segments listed.
func loadRing(dir string, segs []uint64, pub ed25519.PublicKey) (*keyRing, error) {
	copies, err := readCopies(dir)
	if err != nil {
		return nil, err
	}
	rots := map[uint64]*rotation{}
	present := map[uint64]bool{}
	for _, n := range segs {
		present[n] = true
		rot, err := readRotation(dir, n)
		if err != nil {
			return nil, err
		}
		if c := copies[n]; c != nil && (rot == nil || !bytes.Equal(c.line, rot.line)) {
			return nil, fmt.Errorf("collector: %s holds a key rotation for segment %d, which does not open with it", rotationsFile, n)
		}
		if rot != nil {
			rots[n] = rot
		}
	}
	for n, c := range copies {
		if !present[n] {
			if len(segs) > 0 && n > segs[0] {
				return nil, fmt.Errorf("collector: %s holds a key rotation for segment %d, which is not in the store", rotationsFile, n)
			}
			rots[n] = c // its segment deleted by retention
		}
	}
	nums := make([]uint64, 0, len(rots))
	for n := range rots {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var r *keyRing
	for _, n := range nums {
		rot := rots[n]
		old, next := rot.keys()
		if r == nil {
			r = ringOf(old)
		}
		if !r.last().Equal(old) {
			return nil, fmt.Errorf("collector: the key rotation opening segment %d hands over from a key that is not the store's key before it", n)
		}
		if next.Equal(old) {
			return nil, fmt.Errorf("collector: the key rotation opening segment %d names no new key", n)
		}
		if why := rot.follows(dir, n); why != "" {
			return nil, fmt.Errorf("collector: the key rotation opening segment %d %s", n, why)
		}
		r.add(n, rot.body.Seq, next)
		r.lines = append(r.lines, rot.line)
	}
	if r == nil {
		return ringOf(pub), nil
	}
	if !r.has(pub) {
		return nil, fmt.Errorf("%w (its key was rotated %d times)", ErrKeyNotInStore, len(r.keys)-1)
	}
	return r, nil
}

// readRotation reads the first line of segment n and returns the key
// rotation it holds, checked (nil: the line is no rotation).
type rotation struct {
	line   []byte
	body   rotationBody
	prev   string // the hash it chains to (hex)
	oldKey ed25519.PublicKey
	newKey ed25519.PublicKey
}

func (r *rotation) keys() (ed25519.PublicKey, ed25519.PublicKey) { return r.oldKey, r.newKey }

// follows checks that the rotation opening segment n hands over from the
// chain its old key signed: the digest of segment n-1 verifies with the
// old key and ends at the entry the rotation chains to. Else a rotation
// signed by a key of anyone's, naming it the old one, would be taken for
// the store's (verify then failed the segments before it, but the
// collector's start, which checks the newest segments only, did not).
// It returns why not, "" when it does.
func (r *rotation) follows(dir string, n uint64) string {
	if n == 1 {
		return "" // the store's first entry: no chain before it
	}
	data, err := readRegular(filepath.Join(dir, digestName(n-1)), maxDocBytes)
	if err != nil {
		return fmt.Sprintf("follows no readable digest of segment %d: %v", n-1, err)
	}
	var d segmentDigest
	if _, err := openDoc(data, r.oldKey, domainDigest, &d); err != nil {
		return fmt.Sprintf("names an old key that did not sign the digest of segment %d before it", n-1)
	}
	if d.LastHash != r.prev || d.LastSeq+1 != r.body.Seq {
		return fmt.Sprintf("does not chain to the last entry of segment %d", n-1)
	}
	return ""
}

func readRotation(dir string, n uint64) (*rotation, error) {
	f, _, err := openRegular(filepath.Join(dir, segName(n)))
	if err != nil {
		// Gone (retention, between the listing and now) or not a regular
		// file: verify reports it; a rotation it hid leaves the segments
		// after it checked against the key before, which fails them.
		return nil, nil
	}
	defer f.Close()
	br := bufio.NewReader(f)
	line, err := br.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) || !bytes.Contains(line, []byte(kindField)) || !isKind(line, KindKeyRotation) {
		// An empty segment, a line too long for a rotation (which is
		// small), junk or any other kind: no rotation here. The body's
		// kind is the line's first (isKind): a record's attribute named
		// kind, which any sender may write, is not.
		return nil, nil
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	if err != nil {
		return nil, fmt.Errorf("collector: the key rotation opening segment %d is not a whole line", n)
	}
	rot, why := checkRotationLine(line)
	if why == "" && rot.body.Segment != n {
		why = fmt.Sprintf("it names segment %d", rot.body.Segment)
	}
	if why != "" {
		return nil, fmt.Errorf("collector: the key rotation opening segment %d does not verify: %s", n, why)
	}
	return rot, nil
}

// checkRotationLine decodes a rotation entry's line and checks its hash,
// the old key's signature of its body and the new key's of its line.
func checkRotationLine(line []byte) (*rotation, string) {
	var l entryLine
	if err := decodeEntryLine(line, &l); err != nil {
		return nil, "not an entry"
	}
	prev, stored, ok := l.links()
	if !ok || chainHash(prev, l.Body) != stored {
		return nil, "its hash does not cover its body"
	}
	rot := &rotation{line: bytes.Clone(line)}
	if err := json.Unmarshal(l.Body, &rot.body); err != nil || rot.body.Kind != KindKeyRotation {
		return nil, "malformed body"
	}
	old, err1 := base64.StdEncoding.DecodeString(rot.body.OldKey)
	next, err2 := base64.StdEncoding.DecodeString(rot.body.NewKey)
	sig, err3 := base64.StdEncoding.DecodeString(rot.body.OldSig)
	if err1 != nil || err2 != nil || err3 != nil || len(old) != ed25519.PublicKeySize || len(next) != ed25519.PublicKeySize {
		return nil, "malformed keys or signature"
	}
	rot.oldKey, rot.newKey, rot.prev = old, next, l.Prev
	if !ed25519.Verify(rot.oldKey, rotationMessage(prev, rot.body.Seq, rot.oldKey, rot.newKey), sig) {
		return nil, "the old key's signature does not verify"
	}
	if !l.signedBy(rot.newKey, stored) {
		return nil, "the new key's signature of the entry does not verify"
	}
	return rot, ""
}

// rotationBodyFor is the body of the rotation from old to next at the
// store's next position.
func (s *Store) rotationBodyFor(old ed25519.PrivateKey, next ed25519.PublicKey) []byte {
	oldPub := old.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(old, rotationMessage(s.prev, s.seq+1, oldPub, next))
	body := s.bodyHeader(nil, KindKeyRotation)
	body = append(body, `,"segment":`...)
	body = strconv.AppendUint(body, s.segNum, 10)
	body = appendStringField(body, `,"old_key":`, base64.StdEncoding.EncodeToString(oldPub))
	body = appendStringField(body, `,"new_key":`, base64.StdEncoding.EncodeToString(next))
	body = appendStringField(body, `,"old_sig":`, base64.StdEncoding.EncodeToString(sig))
	return append(body, '}')
}

// rotateKeyLocked hands the store over from its signing key to next: it
// seals the open segment with the old key and writes the rotation entry
// as the first entry of the next segment, signed (with the head after
// it) by next.
func (s *Store) rotateKeyLocked(next ed25519.PrivateKey) error {
	if s.seg != nil && s.segEntries > 0 {
		if err := s.closeSegmentLocked(); err != nil {
			return fmt.Errorf("collector: cannot seal segment %d before the key rotation: %w", s.segNum, err)
		}
	}
	if err := s.ensureSegmentLocked(); err != nil {
		return err
	}
	nextPub := next.Public().(ed25519.PublicKey)
	body := s.rotationBodyFor(s.cfg.SigningKey, nextPub)
	old := s.cfg.SigningKey
	s.cfg.SigningKey = next
	s.keys.add(s.segNum, s.seq+1, nextPub)
	if err := s.appendLocked(body); err != nil {
		s.cfg.SigningKey = old
		k := len(s.keys.keys) - 1
		s.keys.keys, s.keys.from, s.keys.seqs = s.keys.keys[:k], s.keys.from[:k], s.keys.seqs[:k]
		return fmt.Errorf("collector: cannot write the key rotation: %w", err)
	}
	rot, err := readRotation(s.dir, s.segNum)
	if err == nil && rot == nil {
		err = errors.New("it does not open its segment")
	}
	if err != nil {
		return fmt.Errorf("collector: the key rotation written does not read back: %w", err)
	}
	s.keys.lines = append(s.keys.lines, rot.line)
	return s.keepRotationsLocked()
}

// keepRotationsLocked writes rotationsFile when it does not hold the
// lines of every rotation the store's keys came from.
func (s *Store) keepRotationsLocked() error {
	var want []byte
	for _, l := range s.keys.lines {
		want = append(append(want, l...), '\n')
	}
	have, err := readRegular(filepath.Join(s.dir, rotationsFile), maxDocBytes)
	if bytes.Equal(have, want) || len(want) == 0 && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := s.writeFileLocked(rotationsFile, want); err != nil {
		return fmt.Errorf("collector: cannot keep the store's key rotations in %s: %w", rotationsFile, err)
	}
	return nil
}

// openKeys reads the store's key rotations and settles the key it signs
// with: StoreConfig.SigningKey, the store's newest; or, with PreviousKey
// the store's newest, PreviousKey until OpenStore has rotated it to
// SigningKey (returned: the key to rotate to). Any other key is refused:
// an older key of the store would sign past a rotation away from it.
func (s *Store) openKeys() (ed25519.PrivateKey, error) {
	segs, digests, err := listSegments(s.dir)
	if err != nil {
		return nil, err
	}
	cur := s.cfg.SigningKey.Public().(ed25519.PublicKey)
	var prev ed25519.PublicKey
	if s.cfg.PreviousKey != nil {
		if len(s.cfg.PreviousKey) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("collector: store %q: the previous signing key is no Ed25519 key", s.dir)
		}
		prev = s.cfg.PreviousKey.Public().(ed25519.PublicKey)
		if prev.Equal(cur) {
			return nil, fmt.Errorf("collector: store %q: the previous signing key is the signing key: a rotation needs a new key", s.dir)
		}
	}
	r, err := loadRing(s.dir, segs, cur)
	if errors.Is(err, ErrKeyNotInStore) && prev != nil {
		r, err = loadRing(s.dir, segs, prev)
	}
	if err != nil {
		return nil, fmt.Errorf("collector: store %q: %w", s.dir, err)
	}
	rotate := func() (ed25519.PrivateKey, error) {
		s.keys = r
		next := s.cfg.SigningKey
		s.cfg.SigningKey = s.cfg.PreviousKey
		return next, nil
	}
	switch {
	case prev != nil && len(r.keys) == 1 && (len(segs)+len(digests) == 0 || headSignedBy(s.dir, cur)):
		// Never rotated, and empty or signed by the new key already: no
		// rotation to write.
		s.keys = ringOf(cur)
		return nil, nil
	case prev != nil && len(r.keys) == 1:
		s.keys = ringOf(prev)
		r = s.keys
		return rotate()
	case r.last().Equal(cur):
		s.keys = r
		return nil, nil
	case prev != nil && r.last().Equal(prev):
		return rotate()
	case r.has(cur):
		return nil, fmt.Errorf("collector: store %q: this signing key was rotated out of the store (its newest key signs from segment %d on): start the collector with the store's newest key", s.dir, r.from[len(r.keys)-1])
	}
	return nil, fmt.Errorf("collector: store %q: its newest signing key (since segment %d) is neither the signing key nor the previous one", s.dir, r.from[len(r.keys)-1])
}

// headSignedBy reports whether the store's head verifies with pub.
func headSignedBy(dir string, pub ed25519.PublicKey) bool {
	data, err := readRegular(filepath.Join(dir, headFile), maxDocBytes)
	var h storeHead
	return err == nil && func() bool { _, err := openDoc(data, pub, domainHead, &h); return err == nil }()
}

// RotatedFrom is the seq of the key rotation entry that hands the store
// over from pub: pub signed every entry before it and nothing from it on.
// It is 0 when no rotation of the store hands over from pub.
func (s *Store) RotatedFrom(pub ed25519.PublicKey) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range s.keys.keys {
		if k.Equal(pub) && i+1 < len(s.keys.seqs) {
			return s.keys.seqs[i+1]
		}
	}
	return 0
}

// KeyRotated reports whether OpenStore rotated the store's key to
// StoreConfig.SigningKey, and the segment the new key signs from (0: the
// store's key was never rotated).
func (s *Store) KeyRotated() (now bool, segment uint64) {
	return s.rotatedNow, s.keys.from[len(s.keys.from)-1]
}
