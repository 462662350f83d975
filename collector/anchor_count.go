package collector

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// CountedAnchor is a HeadAnchor that counts the heads put there in a way
// no client can rewrite: etcd's version of <prefix>/audit/head (its puts
// since it was created) and its create revision (etcdadmin.Admin). Each
// head the store publishes there carries, signed, the count the key has
// once it is put (storeHead.Publication, KeyCreated), so that an older
// head put back there is told from the newest by the count alone
// (CheckCount): etcd's history of the key (HeadHistory) loses the newer
// heads to a compaction, and a head put back that was signed at the same
// instant as a newer one or after it (the clock set back) passed
// NewestPut.
type CountedAnchor interface {
	HeadAnchor
	// CountedHead returns the head there now (nil for none) and the
	// key's count read with it.
	CountedHead(ctx context.Context) ([]byte, etcdadmin.HeadCount, error)
	// ReplaceCountedHead is ReplaceHead with the head made by sign for
	// the count the key will have once it is written; it returns the
	// head made, even when its write failed (nil when none was made).
	ReplaceCountedHead(ctx context.Context, old []byte, sign func(etcdadmin.HeadCount) ([]byte, error)) ([]byte, error)
}

var _ CountedAnchor = (*etcdadmin.Admin)(nil)

// CheckCount compares h, the head read at where, with n, the count its
// key had when it was read. It returns problem, non-nil when h was not
// the newest head put there (ProblemRolledBack: put back over later puts,
// or at a key deleted and created again since) or cannot be shown to be
// (ProblemUnchecked: the key's first put, which a collector never leaves
// there, firstPut), or unchecked, non-empty when h carries no count to
// compare (signed before collectors numbered the heads they publish to
// etcd, or put there by something else): what is then not checked, which
// passes, unless the store records that it publishes counted heads there
// (uncounted: VerifyOptions.AnchorUncounted, Store.countedHead). audit
// verify, evidence pack and the collector's start all check with it.
func CheckCount(where string, h *PublishedHead, n etcdadmin.HeadCount) (problem *Problem, unchecked string) {
	if h.Publication == 0 {
		return nil, fmt.Sprintf("the head at %s (seq %d) carries no publication count (signed by a collector that did not number the heads it puts in etcd yet): "+
			"an older head put back there after etcd compacted the newer ones away, or one signed at the same instant as a newer head or later, is not told from the newest", where, h.Seq)
	}
	what := ProblemRolledBack
	why := countMismatch(h, n)
	if why == "" {
		what, why = ProblemUnchecked, firstPut(h)
	}
	if why == "" {
		return nil, ""
	}
	return &Problem{Entry: -1, Seq: h.Seq, What: what, Detail: fmt.Sprintf("the head at %s (seq %d, signed %s) %s", where, h.Seq, h.Time.UTC().Format(time.RFC3339), why)}, ""
}

// UncountedHead is a head read at a CountedAnchor that carries no count
// of its key's puts (VerifyOptions.AnchorUncounted).
type UncountedHead struct {
	// Where names where it was read ("etcd <key>").
	Where string
	// Unchecked is CheckCount's unchecked for it: what is not checked
	// when the store does not record that it publishes counted heads.
	Unchecked string
}

// countMismatch says why h, numbered, is not the newest head put at the
// key counted n; "" when it is, or cannot be told (firstPut).
func countMismatch(h *PublishedHead, n etcdadmin.HeadCount) string {
	switch {
	case h.Publication == 0:
		return ""
	case h.Publication != n.Puts:
		return fmt.Sprintf("was signed as put %d of that key, but etcd counts %d puts of it: it is not the newest head put there but one put back over it "+
			"(etcd's count of a key's puts survives a compaction, the newer heads may not), and the store cannot be shown to hold the newest", h.Publication, n.Puts)
	case h.KeyCreated != 0 && h.KeyCreated != n.Created:
		return fmt.Sprintf("was signed for that key as created at revision %d, but the key there now was created at revision %d: "+
			"it was deleted, created again and the head put back", h.KeyCreated, n.Created)
	}
	return ""
}

// firstPut says why h cannot be shown to be the newest head put at its
// key when it is the key's first put (publication 1, no create revision):
// a collector puts such a head again at once, signed with the key's create
// revision (Store.replaceAt), so one left there is either put back after
// the key was deleted (etcd's count starts again at 1, and nothing is left
// to contradict it once etcd is compacted) or the collector stopped
// between the two puts. "" for any other head.
func firstPut(h *PublishedHead) string {
	if h.Publication != 1 || h.KeyCreated != 0 {
		return ""
	}
	return "is the first put of that key (signed as put 1, without the key's create revision), which a collector never leaves there: it puts its head again at once, signed with the key's create revision. " +
		"Either the key was deleted and this head, once its first put, put back (etcd's count starts again at a delete, and a compaction leaves nothing to contradict it), " +
		"or the collector stopped between those two puts: the store cannot be shown to hold the newest head"
}

// uncounted says why a head with no count of its etcd key, found there
// by a store that records it publishes counted heads there (Store.counted,
// a signed head or entry saying "counted"), cannot be shown to be the
// newest: the collector puts only numbered heads there since, and
// head.json and the --publish-head file, which a person who can write the
// store reads, hold the same heads without a count.
const uncounted = "carries no count of that key's puts, but this store records that it publishes its heads there numbered with the key's count: " +
	"no collector put it there since, and a head with no count (a head.json or --publish-head file, which never carry one) put there by hand passes the count unchecked, " +
	"so an older head put back cannot be told from the newest: the store cannot be shown to hold the newest head"

// numberHead signs head again with n, the count of the etcd key it is
// about to be put at, with the key that signed it.
func (s *Store) numberHead(head []byte, n etcdadmin.HeadCount) ([]byte, error) {
	s.mu.Lock()
	keys := []ed25519.PrivateKey{s.cfg.SigningKey, s.cfg.PreviousKey}
	s.mu.Unlock()
	for _, k := range keys {
		var h storeHead
		if k == nil {
			continue
		}
		if _, err := openDoc(head, k.Public().(ed25519.PublicKey), domainHead, &h); err != nil {
			continue
		}
		h.Publication, h.KeyCreated = n.Puts, n.Created
		doc, _, err := signDoc(k, domainHead, h)
		return doc, err
	}
	return nil, errors.New("collector: BUG: the head to publish verifies with neither of the store's keys")
}

// replaceAt writes head at a in place of old; at a CountedAnchor, head
// numbered for the put (numberHead), and put once more, numbered with
// the key's create revision, when that put created the key (firstPut): a
// head left at the key's first put cannot be told from one put back after
// a delete. It returns the document written or tried, nil when none was;
// a first put applied is noted in st (st.noteUnsure) before the second is
// tried, so that a failed second put leaves it known as this store's own.
// A head numbered with the key's create revision is put only once the
// store has recorded durably that it publishes counted heads
// (markCounted), so that a put whose answer is lost is remembered.
func (s *Store) replaceAt(ctx context.Context, a HeadAnchor, st *anchorState, old, head []byte) ([]byte, error) {
	c, ok := a.(CountedAnchor)
	if !ok {
		return head, a.ReplaceHead(ctx, old, head)
	}
	sign := func(n etcdadmin.HeadCount) ([]byte, error) {
		if n.Created != 0 {
			if err := s.markCounted(); err != nil {
				return nil, err
			}
		}
		return s.numberHead(head, n)
	}
	doc, err := c.ReplaceCountedHead(ctx, old, sign)
	if err != nil || unverifiedHead(doc).Publication != 1 {
		return doc, err
	}
	st.noteUnsure(doc)
	return c.ReplaceCountedHead(ctx, doc, sign)
}

// readAnchor reads the head published at a and returns the check of
// the head against the key's count at a CountedAnchor (countMismatch),
// which says nothing elsewhere.
func readAnchor(ctx context.Context, a HeadAnchor) (doc []byte, count func(*PublishedHead) string, err error) {
	c, ok := a.(CountedAnchor)
	if !ok {
		doc, err = a.ReadHead(ctx)
		return doc, func(*PublishedHead) string { return "" }, err
	}
	doc, n, err := c.CountedHead(ctx)
	return doc, func(h *PublishedHead) string {
		if why := countMismatch(h, n); why != "" {
			return why
		}
		return firstPut(h)
	}, err
}
