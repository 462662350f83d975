package collector

import (
	"context"
	"fmt"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// HeadHistory is a HeadAnchor that keeps every head published there, not
// only the one there now: etcd keeps each put of <prefix>/audit/head in
// the key's revisions (etcdadmin.Admin). A FileAnchor keeps none.
type HeadHistory interface {
	HeadAnchor
	// PublishedHeads returns every head put there that the history
	// still holds, oldest first.
	PublishedHeads(ctx context.Context) ([]etcdadmin.HeadPut, error)
}

// NewestPut returns, of puts (an anchor's history, HeadHistory), the one
// of the highest seq that opens with open (the collector's key), names a
// later entry than cur, the head there now, and was signed after it, with
// its head opened; nil when none does. One found means cur is an older
// head put back: with the operator's etcd role one puts an older head
// back (etcd keeps each) beside a store restored from a copy made at it,
// and store and head agree; the store must hold the one found too. A
// head the collector signed after a rollback it accepted (recorded in its
// chain) names an earlier entry than the one it replaced but was signed
// after it, and that one is not returned. The collector's start
// (Store.CheckAnchors), audit verify and evidence pack --etcd all check
// with it.
func NewestPut(cur *PublishedHead, puts []etcdadmin.HeadPut, open func([]byte) (*PublishedHead, error)) (*etcdadmin.HeadPut, *PublishedHead) {
	var put *etcdadmin.HeadPut
	var newest *PublishedHead
	for i, p := range puts {
		h, err := open(p.Doc)
		if err != nil || h.Seq <= cur.Seq || !cur.Time.Before(h.Time) || newest != nil && h.Seq <= newest.Seq {
			continue // not the collector's head, not a later one, or one a later head replaced
		}
		put, newest = &puts[i], h
	}
	return put, newest
}

// holdsNewestPut checks that the store holds the newest head a's history
// keeps after cur, the head there now (NewestPut), as holdsHead does; it
// returns nil when there is none. A history that cannot be read is the
// anchor not read (checkAnchor's other error): cur alone cannot tell an
// older head put back from the newest, so nothing is published there
// until the history reads (TestUnreadableHeadHistoryWithholdsTheHead;
// the check passed in silence, and a store rolled back beside a head put
// back published its fork over it).
func (s *Store) holdsNewestPut(ctx context.Context, a HeadHistory, cur []byte) error {
	open := (&KeyRing{s.keys}).OpenHead
	c, err := open(cur)
	if err != nil {
		return nil // holdsHead refused it already
	}
	puts, err := a.PublishedHeads(ctx)
	if err != nil {
		return fmt.Errorf("collector: cannot read the history of the head published at %s to check it before publishing there: %w", a.Where(), err)
	}
	put, _ := NewestPut(c, puts, open)
	if put == nil {
		return nil
	}
	where := fmt.Sprintf("%s at revision %d (its history keeps it; the head there now, seq %d, was put back over it)", a.Where(), put.Revision, c.Seq)
	return s.holdsHead(where, put.Doc, true)
}
