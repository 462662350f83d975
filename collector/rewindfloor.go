package collector

import (
	"cmp"
	"context"
	"slices"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// The events.rewind event the follower stores when etcd went back in
// revision names the revision etcd answered at when the follower found
// it gone back, and the store takes every revision of the cluster up to
// the one it names as stored (eventmarks.go). etcd restored from a backup
// is written to from the revision of the backup on, often before the
// follower looks (every 5 s, and only at its start when the collector was
// down meanwhile): the events of the revisions between were new, taken
// for stored and lost when the restore went back past the store's window
// (TestForwardEventsKeepsEventsWrittenBeforeTheRewindWasSeen). Before it
// stores the rewind, ForwardEvents finds the revision etcd went back to
// instead: the newest event of the cluster in the trail that etcd still
// holds at its revision (etcdadmin.Admin.PutAt). The events of the
// history both share are in etcd, those the backup predates are not, so
// the newest held is found by bisection, first over one event every
// eventWindow revisions, then over the events between two of those: two
// reads of the trail and a few dozen of etcd, at a rewind only. An event
// etcd holds no more for another reason (a compacted key rewritten since)
// only takes the revision lower, and events of the backup's history above
// it are stored again: never one lost.

// rewoundTo returns the revision etcd of cluster went back to, at most
// now: the revision of the newest event of the cluster the store holds
// and etcd still has at its revision, 0 when there is none. forked, when
// etcd's history was found forked (etcdadmin.FollowEventsAfter), is the
// event it no longer held: the events stored after it in the trail are
// left out. The watch may have stored events of the restored etcd before
// the fork was found, which etcd holds: the bisection, which takes the
// events held for a prefix of the trail, settled on one of them, and the
// floor they had raised stayed above the events written just after the
// restore, which were dropped as stored
// (TestForwardEventsFollowsAForkFoundLive, about one run in five). Such
// events, above the revision found, are stored a second time when etcd's
// history is read again: never one lost.
func rewoundTo(ctx context.Context, admin *etcdadmin.Admin, s *Store, cluster uint64, now int64, forked etcdadmin.Witness) (int64, error) {
	type pair struct {
		key string
		rev int64
	}
	// scan passes fn the events of the cluster up to now that the trail
	// holds, verified. A trail it cannot read whole (a segment missing)
	// gives the events it could: fewer only take the revision lower, and
	// an error here would keep the rewind, and every event after it, out
	// of the trail for good.
	scan := func(fn func(p pair)) {
		past := false // the forked event seen: the rest of the trail is left out
		ScanVerifiedEntries(s.dir, s.pub(), 0, [32]byte{}, func(e *Entry) error {
			for _, ev := range e.Events {
				if past {
					return nil
				}
				past = forked.Revision > 0 && ev.Key == forked.Key && ev.Revision == forked.Revision
				// An events.gap event names no key etcd has.
				if ev.Cluster == cluster && ev.Key != "" && ev.Revision > 0 && ev.Revision <= now && ev.Action != etcdadmin.ActionEventsGap {
					fn(pair{ev.Key, ev.Revision})
				}
			}
			return nil
		})
	}
	// newest returns the index of the last of ps etcd holds, bisecting on
	// the shared history being a prefix of ps; -1 when none.
	newest := func(ps []pair) (int, error) {
		lo, hi := 0, len(ps) // ps[:lo] held, ps[hi:] not
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			ok, err := admin.PutAt(ctx, ps[mid].key, ps[mid].rev, cluster)
			if err != nil {
				return 0, err
			}
			if ok {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo - 1, nil
	}
	byRev := func(x, y pair) int { return cmp.Compare(x.rev, y.rev) }

	first := map[int64]pair{} // the lowest event of each eventWindow revisions
	scan(func(p pair) {
		if q, ok := first[p.rev/eventWindow]; !ok || p.rev < q.rev {
			first[p.rev/eventWindow] = p
		}
	})
	marks := slices.SortedFunc(func(yield func(pair) bool) {
		for _, p := range first {
			if !yield(p) {
				return
			}
		}
	}, byRev)
	i, err := newest(marks)
	if err != nil {
		return 0, err
	}
	lo, hi := int64(0), now+1
	if i >= 0 {
		lo = marks[i].rev
	}
	if i+1 < len(marks) {
		hi = marks[i+1].rev
	}
	var between []pair
	scan(func(p pair) {
		if p.rev > lo && p.rev < hi {
			between = append(between, p)
		}
	})
	slices.SortFunc(between, byRev)
	if j, err := newest(between); err != nil {
		return 0, err
	} else if j >= 0 {
		return between[j].rev, nil
	}
	return lo, nil
}
