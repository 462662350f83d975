package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrHeadConflict is returned (wrapped) by PublishChecked when the head at
// an anchor is no longer the one the store last wrote or found there and
// is not of its chain, or is a newer head of its chain that this collector
// did not write: another collector publishes to the same anchor (two
// deployments on one etcd prefix, a copy of a collector started
// elsewhere). The store withholds its heads from that anchor rather than
// overwrite the other's, which may be the only anchor of another chain.
var ErrHeadConflict = errors.New("collector: another collector publishes its head to the same anchor")

// maxUnsure caps the heads whose write lost its answer that a store
// remembers per anchor: the newest, one per --sign-every tick while etcd
// answers nothing, are the ones that can still be there.
const maxUnsure = 16

// AnchorProblem names an anchor signed heads are withheld from, and why.
type AnchorProblem struct {
	Where   string `json:"anchor"`  // HeadAnchor.Where
	Problem string `json:"problem"` // the error of the last publication there
}

// AnchorProblems lists the anchors signed heads are withheld from now
// (StoreStats.AnchorsWithheld counts them), for the collector's /healthz.
// It never waits for a publication in progress.
func (s *Store) AnchorProblems() []AnchorProblem {
	if p := s.anchorProblems.Load(); p != nil {
		return *p
	}
	return nil
}

// publishChecked publishes head to p. At an anchor, it first checks the
// head there (once), then replaces only the head it last wrote or found
// there (publishOnLocked).
func (s *Store) publishChecked(ctx context.Context, p HeadPublisher, head []byte) error {
	s.amu.Lock()
	defer s.amu.Unlock()
	st := s.anchorLocked(p)
	a, isAnchor := p.(HeadAnchor)
	if !isAnchor {
		return p.PublishHead(ctx, head)
	}
	if !st.checked {
		doc, err := s.checkAnchor(ctx, a)
		if errors.Is(err, ErrAnchorNotHeld) {
			err = fmt.Errorf("%w; not publishing there (verify this store against that anchor to inspect it)", err)
			s.withholdLocked(st, err)
		}
		if err != nil {
			return err
		}
		st.checked, st.last = true, doc
	}
	return s.publishOnLocked(ctx, a, st, head)
}

// publishOnLocked writes head at a in place of st.last, and only of it
// (HeadAnchor.ReplaceHead compares the value there: in etcd, in the same
// transaction), so that a head another collector published there since
// is never overwritten unseen. When the write fails, the head there is
// read back and settled (settleLocked); s.amu is held.
func (s *Store) publishOnLocked(ctx context.Context, a HeadAnchor, st *anchorState, head []byte) error {
	var err error
	for range 3 { // one more try after each head of this store's found there
		var written []byte
		if written, err = s.replaceAt(ctx, a, st, st.last, head); err == nil {
			s.publishedLocked(st, written)
			return nil
		}
		if written == nil {
			written = head
		}
		st.noteUnsure(written)
		cur, rerr := a.ReadHead(ctx)
		if rerr != nil {
			// Whether it was applied is settled at the next publication,
			// which finds it there (st.unsure) or the head it replaces.
			return err
		}
		retry, serr := s.settleLocked(a, st, written, cur, err)
		if !retry {
			return serr
		}
	}
	return err
}

// settleLocked decides, after werr, the failed write of head at a, from
// cur, the head found there now: whether to write again in place of cur
// (now st.last), or the error to return.
func (s *Store) settleLocked(a HeadAnchor, st *anchorState, head, cur []byte, werr error) (retry bool, err error) {
	switch {
	case bytes.Equal(cur, head): // applied; its answer was lost
		s.publishedLocked(st, head)
		return false, nil
	case bytes.Equal(cur, st.last): // nothing changed there: not applied
		return false, werr
	case slices.ContainsFunc(st.unsure, func(d []byte) bool { return bytes.Equal(d, cur) }):
		st.last = cur // an earlier write of this store, whose answer was lost, was applied
		return true, nil
	case cur == nil:
		s.anchorNotice(fmt.Sprintf("the head published at %s (%s, which this collector last wrote or found there) was deleted; publishing this store's head there again", a.Where(), headLabel(st.last)))
		st.last = nil
		return true, nil
	case s.movedBack(a.Where(), st.last, cur):
		s.anchorNotice(fmt.Sprintf("the head published at %s went back from %s, which this collector last wrote or found there, to %s, an older head of this store's chain (etcd or the file restored from a backup?); publishing this store's head over it", a.Where(), headLabel(st.last), headLabel(cur)))
		st.last = cur
		return true, nil
	}
	return false, s.refuseLocked(a, st, head, cur)
}

// movedBack reports whether cur, found at where in place of last, is an
// older head of the store's own chain than last: what a restore of the
// anchor from a backup leaves, and what a restart of the collector would
// publish over too (CheckAnchors). A head in a segment retention deleted
// is not taken as the store's: it cannot be compared.
func (s *Store) movedBack(where string, last, cur []byte) bool {
	if last == nil || s.holdsHead(where, cur, false) != nil {
		return false
	}
	l, c := unverifiedHead(last), unverifiedHead(cur)
	return c.Seq < l.Seq || (c.Seq == l.Seq && c.Time.Before(l.Time))
}

// refuseLocked withholds heads from a, where cur, another collector's
// head, replaced the one this store last wrote or found there, and
// returns the error naming them and head, the one not published; s.amu
// is held.
func (s *Store) refuseLocked(a HeadAnchor, st *anchorState, head, cur []byte) error {
	what := "of another chain: it does not verify with this collector's signing key (another deployment's collector)"
	if _, err := (&KeyRing{s.keys}).OpenHead(cur); err == nil {
		what = "of another chain, signed with this collector's key: a copy of this collector (or of its store) runs elsewhere"
		if s.holdsHead(a.Where(), cur, false) == nil {
			what = "of this store's own chain, newer than this collector wrote there: that cannot be with one collector per store, so a copy of this collector with this store's chain runs elsewhere"
		}
	}
	err := fmt.Errorf("%w: the head at %s is no longer %s, which this collector last wrote or found there, but %s, %s; "+
		"not publishing this store's head, %s, over it (the batches are still stored): stop the collector that should not publish there, and if it is the other one, delete the head at %s for this collector to publish there again",
		ErrHeadConflict, a.Where(), headLabel(st.last), headLabel(cur), what, headLabel(head), a.Where())
	s.headConflicts.Add(1)
	s.withholdLocked(st, err)
	return err
}

// markCounted records in head.json, signed again at once, that the store
// publishes counted heads (Store.counted; entries record it only once the
// next is stored), before the first head numbered with its etcd key's
// create revision is put there (replaceAt): that put's answer may be
// lost, and a collector that stops then must still refuse a start that
// finds the key gone (countedGone). When head.json cannot be written the
// store is not marked, and the put is not made.
func (s *Store) markCounted() error {
	if s.counted.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counted.Store(true)
	if _, err := s.signHeadLocked(s.cfg.Now()); err != nil {
		s.counted.Store(false)
		return fmt.Errorf("collector: cannot record in head.json that heads are published numbered, so not publishing one: %w", err)
	}
	return nil
}

// publishedLocked records head as written at st's anchor; s.amu is held.
func (s *Store) publishedLocked(st *anchorState, head []byte) {
	st.last, st.unsure = head, nil
	s.withholdLocked(st, nil)
}

// noteUnsure remembers head as written with an unknown outcome.
func (st *anchorState) noteUnsure(head []byte) {
	if slices.ContainsFunc(st.unsure, func(d []byte) bool { return bytes.Equal(d, head) }) {
		return
	}
	if len(st.unsure) == maxUnsure {
		st.unsure = slices.Delete(st.unsure, 0, 1)
	}
	st.unsure = append(st.unsure, head)
}

// anchorNotice hands msg to StoreConfig.OnAnchor.
func (s *Store) anchorNotice(msg string) {
	if s.cfg.OnAnchor != nil {
		s.cfg.OnAnchor(msg)
	}
}

// headLabel names a signed head for a person: its seq, hash and time as
// the document says (unverified), or "no head" for nil.
func headLabel(doc []byte) string {
	if doc == nil {
		return "no head"
	}
	h := unverifiedHead(doc)
	return fmt.Sprintf("seq %d (hash %.16s..., signed %s)", h.Seq, h.Hash, h.Time.UTC().Format(time.RFC3339))
}
