package collector

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// HeadPublisher keeps a copy of each signed head somewhere a person with
// write access to the store's directory cannot silently reset, so that a
// store rolled back to an older copy, or emptied, is found by Verify
// (issue 21, item 3). The collector publishes to etcd under the deployment
// prefix (etcdadmin.Admin) and, when the operator names one, to a file
// (FileAnchor).
//
// A store tells its publishers apart with ==: a publisher's dynamic type
// must be comparable (a pointer, a string).
type HeadPublisher interface {
	PublishHead(ctx context.Context, head []byte) error
}

// HeadAnchor is a HeadPublisher the collector reads back: before it first
// publishes a head there, it checks that its store holds the head already
// published (Store.CheckAnchors, Store.PublishChecked), so that a store
// restored from an older copy, or otherwise forked, never moves the
// anchor onto its own chain. FileAnchor and etcdadmin.Admin are anchors.
type HeadAnchor interface {
	HeadPublisher
	// ReadHead returns the head published there, nil when none is.
	ReadHead(ctx context.Context) ([]byte, error)
	// ReplaceHead publishes head in place of old (nil: none) whatever
	// their seqs, as long as old is still the one published: every
	// publication of the store is one, in place of the head it last
	// wrote or found there (PublishChecked).
	ReplaceHead(ctx context.Context, old, head []byte) error
	// Where names the anchor for a person (a file, an etcd key).
	Where() string
}

// ErrAnchorNotHeld is returned (wrapped, in an *AnchorError) when a store
// does not hold the head published at an anchor: the store is behind the
// anchor or a fork of the chain it vouches for.
var ErrAnchorNotHeld = errors.New("collector: the store does not hold the published head")

// AnchorError says which published head a store does not hold, and why.
type AnchorError struct {
	Where     string         // the anchor (HeadAnchor.Where)
	Published *PublishedHead // the head published there; nil when it does not verify
	StoreSeq  uint64         // the store's chain tip
	Reason    string
}

func (e *AnchorError) Error() string {
	if e.Published == nil {
		return fmt.Sprintf("collector: the head published at %s %s", e.Where, e.Reason)
	}
	p := e.Published
	return fmt.Sprintf("collector: the head published at %s names seq %d (hash %.16s..., signed %s) but %s",
		e.Where, p.Seq, p.Hash, p.Time.UTC().Format(time.RFC3339), e.Reason)
}

func (e *AnchorError) Unwrap() error { return ErrAnchorNotHeld }

// anchorState is what a store knows of one publisher.
type anchorState struct {
	pub     HeadPublisher
	checked bool // the store holds the head published there (last), or none was
	// last is the head this store last found (checked, or a recorded
	// rollback names) or wrote at the anchor, nil for none: each
	// publication replaces it and nothing else (publishOnLocked).
	last []byte
	// unsure are heads written there whose answer was lost, so that one
	// found there later is known as this store's own; at most maxUnsure.
	unsure [][]byte
	// withheld is why heads are not published there; nil when they are.
	withheld error
	// accepted says a rollback recorded in the chain (CheckAnchors with
	// acceptRollback) names the head there, or its absence.
	accepted bool
}

// anchorLocked returns p's state, adding it; s.amu is held.
func (s *Store) anchorLocked(p HeadPublisher) *anchorState {
	for _, a := range s.anchors {
		if a.pub == p {
			return a
		}
	}
	a := &anchorState{pub: p}
	s.anchors = append(s.anchors, a)
	return a
}

// withholdLocked sets why heads are withheld from st's anchor (nil: they
// are not) and recounts them; s.amu is held.
func (s *Store) withholdLocked(st *anchorState, why error) {
	st.withheld = why
	var probs []AnchorProblem
	for _, a := range s.anchors {
		if a.withheld != nil {
			probs = append(probs, AnchorProblem{Where: where(a.pub), Problem: a.withheld.Error()})
		}
	}
	s.withheldAnchors.Store(uint64(len(probs)))
	s.anchorProblems.Store(&probs)
}

// where names p for a person: HeadAnchor.Where, else its value.
func where(p HeadPublisher) string {
	if a, ok := p.(HeadAnchor); ok {
		return a.Where()
	}
	return fmt.Sprint(p)
}

// checkAnchor reads the head published at a and checks that it verifies
// with the store's key and that the store holds it: the entry at its seq
// is in the chain, with its hash. At an anchor that keeps its history
// (HeadHistory: etcd), the store must hold the newest head kept there
// after the one there now too (NewestPut): an older head put back beside
// a store restored from a copy made at it agreed with the store. It
// returns the document read (nil when none is published), an
// *AnchorError when the store does not hold it, or another error when
// the anchor cannot be read.
func (s *Store) checkAnchor(ctx context.Context, a HeadAnchor) ([]byte, error) {
	doc, count, err := readAnchor(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot read the head published at %s to check it before publishing there: %w", a.Where(), err)
	}
	if doc == nil {
		return nil, s.countedGone(a)
	}
	if err := s.holdsHead(a.Where(), doc, true); err != nil {
		return doc, err
	}
	if h, ok := a.(HeadHistory); ok {
		if err := s.holdsNewestPut(ctx, h, doc); err != nil {
			return doc, err
		}
	}
	return doc, s.countedHead(a, doc, count)
}

// countedHead returns an *AnchorError when doc, the head at a, is not
// the newest put there by its key's count (CountedAnchor): an older head
// was put back, and the newest, which etcd may have compacted away (or
// which NewestPut does not take for newer: signed at the same instant or
// before, the clock set back), cannot be compared with the store; or
// when doc carries no count at all while the store records that it
// publishes counted heads there (uncounted).
func (s *Store) countedHead(a HeadAnchor, doc []byte, count func(*PublishedHead) string) error {
	p, err := (&KeyRing{s.keys}).OpenHead(doc)
	if err != nil {
		return nil // holdsHead refused it already
	}
	why := count(p)
	if _, ok := a.(CountedAnchor); ok && why == "" && p.Publication == 0 && s.counted.Load() {
		why = uncounted
	}
	if why == "" {
		return nil
	}
	where := a.Where()
	s.mu.Lock()
	tip := s.seq
	s.mu.Unlock()
	return &AnchorError{Where: where, Published: p, StoreSeq: tip, Reason: "it " + why +
		" (if this store is known to hold every entry, check it with audit verify --expect-head against a head kept elsewhere, then start the collector with --accept-rollback, which records this in the chain)"}
}

// countedGone returns an *AnchorError when a, which holds no head, is a
// CountedAnchor the store published numbered heads at (Store.counted):
// the key was deleted, and a first head published there now would start
// its count again and agree with a store rolled back beside it. A store
// created by this start (createdNow) has published nowhere yet. One
// created with StoreConfig.PublishesCounted whose collector stopped
// before its first head reached the key is refused too: nothing tells
// that from the key deleted.
func (s *Store) countedGone(a HeadAnchor) error {
	if _, ok := a.(CountedAnchor); !ok || !s.counted.Load() || s.createdNow {
		return nil
	}
	s.mu.Lock()
	tip := s.seq
	s.mu.Unlock()
	return &AnchorError{Where: a.Where(), StoreSeq: tip, Reason: "holds no head, but this store's head and entries record that it published its heads there, numbered with the key's count: " +
		"the key was deleted (or the collector that created the store stopped before its first head reached it), and a first head published there now would start its count again, so a store rolled back beside it would not be found " +
		"(if the key was deleted on purpose, etcd replaced or the store never published there, check the store with audit verify --expect-head against a head kept elsewhere, then start the collector with --accept-rollback, which records this in the chain)"}
}

// holdsHead returns nil when doc, the head published at where, verifies
// with the store's key and names an entry of the store's chain with its
// hash (or, with expiredHeld, one retention deleted), else an
// *AnchorError saying why not.
func (s *Store) holdsHead(where string, doc []byte, expiredHeld bool) error {
	p, err := (&KeyRing{s.keys}).OpenHead(doc)
	if err != nil {
		return &AnchorError{Where: where, Reason: fmt.Sprintf("does not verify with this collector's signing key (%v)", err)}
	}
	s.mu.Lock()
	tip := s.seq
	got, err := s.entryHash(p.Seq)
	s.mu.Unlock()
	ae := &AnchorError{Where: where, Published: p, StoreSeq: tip}
	switch {
	case errors.Is(err, errSegmentExpired) && expiredHeld:
		return nil // Verify cannot compare it either; the digests chain through it
	case p.Seq > tip:
		ae.Reason = fmt.Sprintf("this store's chain ends at seq %d: the store is behind its anchor (rolled back, restored from an older copy, or its newest entries deleted)", tip)
	case err != nil:
		ae.Reason = fmt.Sprintf("this store does not hold entry %d: %v", p.Seq, err)
	case hex.EncodeToString(got[:]) != p.Hash:
		ae.Reason = fmt.Sprintf("this store's entry %d has hash %x...: the store is a fork of the chain the anchor vouches for (an older copy, continued)", p.Seq, got[:8])
	default:
		return nil
	}
	return ae
}

// CheckAnchors checks, before the collector first publishes a head, that
// its store holds the head published at each anchor (a HeadAnchor among
// pubs), each read within timeout. It returns the *AnchorError of every
// anchor whose head the store does not hold, joined; the collector does
// not start then. An anchor that cannot be read is left to PublishChecked,
// which checks it before publishing there.
//
// With acceptRollback (the operator restored the store on purpose), a head
// the store does not hold is instead recorded in the chain as a break that
// names it, so that Verify keeps failing for this store and the rollback
// is signed in the chain, and the next publication replaces it
// (HeadAnchor.ReplaceHead). Every anchor must be readable then: the break
// names the head it replaces. The rollbacks recorded are returned.
func (s *Store) CheckAnchors(ctx context.Context, pubs []HeadPublisher, timeout time.Duration, acceptRollback bool) (accepted []*AnchorError, err error) {
	s.amu.Lock()
	defer s.amu.Unlock()
	var errs []error
	for _, p := range pubs {
		st := s.anchorLocked(p)
		a, ok := p.(HeadAnchor)
		if !ok {
			st.checked = true
			continue
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		doc, err := s.checkAnchor(actx, a)
		cancel()
		var ae *AnchorError
		switch {
		case err == nil:
			st.checked, st.last = true, doc
			s.withholdLocked(st, nil)
		case errors.As(err, &ae) && acceptRollback:
			st.last, st.accepted = doc, true
			accepted = append(accepted, ae)
		case errors.As(err, &ae):
			s.withholdLocked(st, err)
			errs = append(errs, err)
		case acceptRollback:
			errs = append(errs, fmt.Errorf("%w: a rollback is accepted only against the head it replaces", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := s.recordRollbacks(accepted); err != nil {
		return nil, err
	}
	for _, p := range pubs {
		if st := s.anchorLocked(p); !st.checked {
			if _, ok := p.(HeadAnchor); ok && (st.last != nil || st.accepted) {
				st.checked = true // the next publication replaces the head the break names
				s.withholdLocked(st, nil)
			}
		}
	}
	return accepted, nil
}

// recordRollbacks records in the chain, once for each head published, the
// heads the store does not hold and that the operator accepted it.
func (s *Store) recordRollbacks(accepted []*AnchorError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ae := range accepted {
		if slices.ContainsFunc(accepted[:i], func(o *AnchorError) bool { return samePublished(o, ae) }) {
			continue // recorded with the first anchor that names it
		}
		where := []string{ae.Where}
		for _, o := range accepted[i+1:] {
			if samePublished(o, ae) {
				where = append(where, o.Where)
			}
		}
		lost := 0
		if ae.Published != nil && ae.Published.Seq > s.seq {
			lost = int(ae.Published.Seq - s.seq)
		}
		shown := *ae
		shown.Where = strings.Join(where, " and ")
		if err := s.recordBreak(s.breakSegment(), lost, "rollback accepted by the operator: "+strings.TrimPrefix(shown.Error(), "collector: ")+
			"; the entries that head vouched for are not in this chain, and the anchor moves on to this chain"); err != nil {
			return err
		}
	}
	return nil
}

// samePublished reports whether a and b are about the same published head.
func samePublished(a, b *AnchorError) bool {
	if a.Published == nil || b.Published == nil {
		return a.Published == b.Published && a.Reason == b.Reason
	}
	return a.Published.Seq == b.Published.Seq && a.Published.Hash == b.Published.Hash
}

// PublishChecked hands head, which the store signed, to every publisher,
// each within timeout, and returns the failures joined. To an anchor
// (HeadAnchor) it publishes only once it has found the head published
// there in the store (CheckAnchors, or here when the anchor could not be
// read before): while the store does not hold it, the head is withheld
// from that anchor (StoreStats.AnchorsWithheld) and the failure names why.
// Each publication then replaces the head the store last wrote or found
// there, and only it (a compare-and-swap, HeadAnchor.ReplaceHead): a head
// found there instead is settled by what it is. A head this store wrote
// whose answer was lost is taken as written; a deleted head, or one moved
// back to an older head of the store's chain, is published over and
// reported to StoreConfig.OnAnchor; any other (another chain's, or a newer
// head of this chain this collector did not write) is never overwritten:
// the head is withheld from that anchor, the failure (ErrHeadConflict)
// names both heads, StoreStats.HeadConflicts counts it, and the store
// goes on storing.
func (s *Store) PublishChecked(ctx context.Context, head []byte, timeout time.Duration, pubs []HeadPublisher) error {
	var errs []error
	for _, p := range pubs {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		if err := s.publishChecked(pctx, p, head); err != nil {
			errs = append(errs, fmt.Errorf("collector: cannot publish the signed head: %w", err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// FileAnchor publishes each signed head to a file the operator chooses
// (best on another host or mount: a file beside the store is rolled back
// with it). The file is replaced atomically.
type FileAnchor string

// ErrHeadBehind is returned (wrapped) when a head to publish names an
// earlier entry than the one already published: the store was rolled back.
var ErrHeadBehind = errors.New("collector: head behind the published one")

// ErrHeadForked is returned (wrapped) when a head to publish names the
// entry already published with another hash: the store it comes from is
// not the chain the anchor vouches for (an older copy, continued).
var ErrHeadForked = errors.New("collector: head forks from the published one")

// PublishHead writes head to the file unless the head already there names
// a later entry, or the same entry with another hash (a collector
// restarted on an older copy of its store must not reset the anchor it
// will be checked against, nor move it onto its own chain once that
// reaches the published seq).
func (a FileAnchor) PublishHead(ctx context.Context, head []byte) error {
	unlock, err := lockAnchorFile(ctx, string(a))
	if err != nil {
		return err
	}
	defer unlock()
	if old, err := readRegular(string(a), maxDocBytes); err == nil {
		if err := headFollows(old, head, string(a)); err != nil {
			return err
		}
	}
	return durable.WriteFile(filepath.Dir(string(a)), filepath.Base(string(a)), head)
}

// ReadHead returns the head published in the file, nil when there is none.
func (a FileAnchor) ReadHead(context.Context) ([]byte, error) {
	doc, err := readRegular(string(a), maxDocBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("collector: cannot read the published head %q: %w", string(a), err)
	}
	return doc, nil
}

// ReplaceHead writes head in place of old, the published head a recorded
// rollback names (Store.CheckAnchors with acceptRollback), as long as old
// is still the one in the file.
//
// The read, the compare and the write hold the file's lock
// (lockAnchorFile), so that of two collectors given one file, each
// replacing the head it last saw, only one can: before, both could read
// the same head and both write.
func (a FileAnchor) ReplaceHead(ctx context.Context, old, head []byte) error {
	unlock, err := lockAnchorFile(ctx, string(a))
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := readRegular(string(a), maxDocBytes)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("collector: cannot read the published head %q: %w", string(a), err)
	}
	if !bytes.Equal(cur, old) {
		return fmt.Errorf("collector: %q changed since it was checked; not replacing it", string(a))
	}
	return durable.WriteFile(filepath.Dir(string(a)), filepath.Base(string(a)), head)
}

// Where names the file.
func (a FileAnchor) Where() string { return "file " + string(a) }

// headFollows reports (ErrHeadBehind, ErrHeadForked) whether next may
// replace cur, the head published at where: not when it names an earlier
// entry, or the same one with another hash. It compares only what the
// documents say, unverified (an anchor holds no key): the collector checks
// that its chain holds the published head before it publishes there.
func headFollows(cur, next []byte, where string) error {
	c, n := unverifiedHead(cur), unverifiedHead(next)
	switch {
	case c.Seq > n.Seq:
		return fmt.Errorf("%w: %s names seq %d, this head seq %d", ErrHeadBehind, where, c.Seq, n.Seq)
	case c.Seq == n.Seq && c.Hash != n.Hash:
		//lint:ignore ST1005 the "..." marks a hash cut to 16 digits, not punctuation
		return fmt.Errorf("%w: %s names seq %d with hash %.16s..., this head seq %d with hash %.16s...", ErrHeadForked, where, c.Seq, c.Hash, n.Seq, n.Hash)
	}
	return nil
}

// unverifiedSeq reads a signed head's seq without checking the signature.
func unverifiedSeq(doc []byte) uint64 { return unverifiedHead(doc).Seq }

// unverifiedHead reads a signed head without checking the signature.
func unverifiedHead(doc []byte) storeHead {
	var d signedDoc
	var h storeHead
	if json.Unmarshal(doc, &d) != nil || json.Unmarshal(d.Payload, &h) != nil {
		return storeHead{}
	}
	return h
}

// SignHead signs the chain tip with time now, installs it as the store's
// head and returns the signed document for publication; when it cannot
// install it (the store directory is full, or something was planted at
// the head's name), it returns the document with the error, to be
// published all the same. The collector calls
// it on a timer (RunHeadSigner) even when nothing was appended, as
// CloudTrail delivers digest files every hour whether or not there was
// activity: a head's time says the collector was alive then.
func (s *Store) SignHead(now time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signHeadLocked(now)
}

// signHeadLocked signs the chain tip at now and installs it as head.json
// durably (writeFileLocked: the file fsync'd before its rename, the
// directory after), so no crash leaves head.json empty or torn, and a
// start refuses one that is (checkHeadPresent). The head after each
// append is appendHeadLocked's. Whatever is planted at the head's
// temporary name is cleared away, reported, and the install tried once
// more (clearPlantedLocked).
//
// Once it is installed, the entries after it record its seq
// (durableHead): a crash may lose the renames of the heads after it
// (appendHeadLocked), never it, so a start that finds head.json older
// than an entry records knows it was put back (checkHeadLag).
func (s *Store) signHeadLocked(now time.Time) ([]byte, error) {
	doc, err := s.installHeadLocked(now, durable.WriteFile)
	if err == nil && doc != nil {
		s.durableHead, s.durableFrom = s.seq, 0
	}
	return doc, err
}

// appendHeadLocked signs the head after an append, written through
// (fsync'd) before its rename as every head is, but without the
// directory's fsync (durable.Replace): a crash may lose the rename and
// leave the head before, whole, which lags the entry just stored, never
// runs ahead of it (the entry was fsync'd first and carries its own
// signature), as a crash between the entry and its head always could.
// The fsync of the directory would be a third one a batch, for nothing
// a restart reads.
func (s *Store) appendHeadLocked() error {
	_, err := s.installHeadLocked(s.cfg.Now(), durable.Replace)
	return err
}

// installHeadLocked signs the chain tip at now and writes it as
// head.json through write; it returns the document even when the write
// fails, to be published all the same.
func (s *Store) installHeadLocked(now time.Time, write func(dir, name string, data []byte) error) ([]byte, error) {
	ret := int64(s.cfg.Retention / time.Second)
	doc, _, err := signDoc(s.cfg.SigningKey, domainHead, storeHead{Segment: s.segNum, Seq: s.seq,
		Hash: hex.EncodeToString(s.prev[:]), Time: now.UTC(), RetentionSeconds: &ret, Sealed: s.sealedLocked(), Counted: s.counted.Load()})
	if err != nil {
		return nil, err
	}
	return doc, s.writeWithLocked(write, headFile, doc)
}

// RunHeadSigner signs the head every interval until ctx ends, even when
// nothing was appended, and hands each signed head to every publisher.
// It signs and publishes once at the start. Failures go to onErr (which
// may be nil); a publisher that fails is tried again at the next tick.
func (s *Store) RunHeadSigner(ctx context.Context, every time.Duration, pubs []HeadPublisher, onErr func(error)) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	s.signAndPublish(ctx, time.Now(), every, pubs, onErr)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.signAndPublish(ctx, now, every, pubs, onErr)
		}
	}
}

func (s *Store) signAndPublish(ctx context.Context, now time.Time, every time.Duration, pubs []HeadPublisher, onErr func(error)) {
	doc, err := s.SignHead(now)
	if doc != nil {
		// Published even when head.json could not be installed: the
		// anchors are what a person who can write the store cannot
		// reset, and one who planted a directory at the head's
		// temporary name held them back while batches were stored
		// (TestPlantedHeadTempStillPublishes).
		err = errors.Join(err, s.PublishChecked(ctx, doc, every, pubs))
	}
	s.countHead(err)
	if err != nil && onErr != nil {
		onErr(err)
	}
}

// countHead records the outcome of signing and publishing a head, for
// StoreStats (the collector's /metrics) and Health (/readyz, /healthz).
func (s *Store) countHead(err error) {
	s.noteHead(err)
	if err != nil {
		s.headFailures.Add(1)
		return
	}
	s.headPublished.Store(time.Now().UnixNano())
}

// PublishHead hands head to every publisher, each within timeout, and
// returns the failures joined. It checks nothing against the anchors: the
// collector publishes through Store.PublishChecked.
func PublishHead(ctx context.Context, head []byte, timeout time.Duration, pubs []HeadPublisher) error {
	var errs []error
	for _, p := range pubs {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		if err := p.PublishHead(pctx, head); err != nil {
			errs = append(errs, fmt.Errorf("collector: cannot publish the signed head: %w", err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// PublishedHead is a signed head as read back from where it was published.
type PublishedHead struct {
	Seq  uint64
	Hash string // hex SHA-256 chain hash of entry Seq
	Time time.Time
	// Publication and KeyCreated are the count of its etcd key it was
	// signed for (CountedAnchor); 0 in a head not numbered.
	Publication, KeyCreated int64
}

// OpenHead checks a published head document against the public key.
func OpenHead(doc []byte, pub ed25519.PublicKey) (*PublishedHead, error) {
	var h storeHead
	if _, err := openDoc(doc, pub, domainHead, &h); err != nil {
		return nil, fmt.Errorf("collector: published head does not verify with the public key: %w", err)
	}
	return &PublishedHead{Seq: h.Seq, Hash: h.Hash, Time: h.Time, Publication: h.Publication, KeyCreated: h.KeyCreated}, nil
}
