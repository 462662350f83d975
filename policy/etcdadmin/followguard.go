// How FollowEvents finds etcd gone back: the guard of a watch (revisions, cluster id and witnesses
// read again) and the events.rewind event it stores.

package etcdadmin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// rewound ends a watch of FollowEvents: etcd answered at now, below the
// revision was followed, or from cluster nowCluster, not wasCluster.
// cluster is the id of the cluster that answered, in either case.
type rewound struct {
	was, now               int64
	wasCluster, nowCluster uint64
	cluster                uint64
	// forked is the event etcd's history no longer holds at its
	// revision (Witness); the zero Witness when etcd answered below was
	// or from another cluster.
	forked Witness
}

func (e *rewound) Error() string {
	if w := e.forked; w.Revision > 0 {
		return fmt.Sprintf("etcd's history no longer holds the event %s at revision %d (etcd now at %d, written past it)", w.Key, w.Revision, e.now)
	}
	if e.wasCluster != e.nowCluster {
		return fmt.Sprintf("etcd cluster id changed from %x to %x (revision %d, then %d)", e.wasCluster, e.nowCluster, e.was, e.now)
	}
	return fmt.Sprintf("etcd revision went backwards from %d to %d", e.was, e.now)
}

// followGuard is what a watch of FollowEvents saw of etcd: the highest
// revision and the cluster id (0: none yet).
type followGuard struct {
	seen    int64
	cluster uint64
	// witness is the event check reads etcd's history for
	// (FollowEventsAfter): the last event stored when the check before
	// ran, so that an event of the new history that the watch passed on
	// since (etcd gone back and written past) never stands in for it.
	// first is the first event stored since (zero: none), which confirm
	// reads too before the witness moves on to next, the last event
	// stored since: a collector cut off just after it stored events the
	// restore lost, whose watch then stored one of the restored etcd,
	// moved on to that one, and the fork went unfound
	// (TestForwardEventsChecksTheFirstEventSinceTheCheck).
	witness, first, next Witness
	// deleted holds the keys under events-by/ whose delete the watch
	// passed on (event.deleted) that confirm may still read: only such a
	// key gone from a history compacted past it is a person's delete; any
	// other is etcd gone back, as a key gone from events/ is (lost).
	deleted map[string]bool
	// keep, when set, is told witness and first (FollowEventsAfter).
	keep func(Witnesses) error
	// events is the events directory: nothing deletes a key under it.
	events string
	// byDir is the events-by/ directory: a person deletes only her own
	// events under it, and the watch passes the delete on (deleted).
	byDir string
	// auth is what check last read of etcd's authentication (for the
	// Admin admin): without it, events-by/ binds no one.
	auth  *authSeen
	admin *Admin
}

// answered records a watch response's header, or returns a *rewound
// when another cluster sent it. Its revision is not compared: a watch
// moved to a member lagging behind may answer below what another member
// reported, which is no rewind.
func (g *followGuard) answered(rev int64, cluster uint64) error {
	if g.cluster != 0 && cluster != 0 && cluster != g.cluster {
		return &rewound{was: g.seen, now: rev, wasCluster: g.cluster, nowCluster: cluster, cluster: cluster}
	}
	g.seen = max(g.seen, rev)
	if g.cluster == 0 {
		g.cluster = cluster
	}
	return nil
}

// check reads etcd linearizably (count only, never serializable: a
// member lagging behind would look like etcd gone back) and returns a
// *rewound when etcd answers below the revision seen, or from
// another cluster. A failed read is no finding: the watch reports an
// unreachable etcd.
func (g *followGuard) check(ctx context.Context, cli *clientv3.Client, key string) error {
	if g.auth != nil {
		g.auth.update(ctx, g.admin) // authstatus.go
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Get(cctx, key, clientv3.WithCountOnly())
	if err != nil {
		return nil
	}
	h := resp.Header
	if h.Revision < g.seen {
		return &rewound{was: g.seen, now: h.Revision, cluster: h.ClusterId}
	}
	if err := g.answered(h.Revision, h.ClusterId); err != nil {
		return err
	}
	return g.confirm(ctx, cli, h)
}

// confirm reads the witness's key at its revision (linearizably, so a
// member lagging behind has applied it) and returns a *rewound when
// etcd's history holds another write there, or none: etcd went back and
// was written past the revision since (check). A history compacted past
// the witness is read as it is now (etcdsync.HistoryHolds): an event's key
// gone is etcd gone back, since nothing deletes one; when it cannot tell
// (the key written since, or a use counter's gone), the witness moves on;
// any other failure is no finding. Before it moves on, the first event
// stored since is read the same way (followGuard.first), in the
// witness's place when there is none yet.
func (g *followGuard) confirm(ctx context.Context, cli *clientv3.Client, h *etcdserverpb.ResponseHeader) error {
	w := g.witness
	if w.Revision <= 0 {
		// Nothing confirmed yet (a fresh follower): the first event stored
		// is read in its place before the last stored becomes the witness,
		// which may be an event of an etcd restored and written past since
		// (TestFollowFreshFindsEtcdRestoredBeforeItsFirstCheck).
		if w = g.first; w.Revision <= 0 {
			g.witness, g.first = g.next, Witness{}
			return g.kept()
		}
	}
	if w.Revision > h.Revision {
		// etcd below an event stored: gone back (a caller whose resume
		// revision was lost or behind resumes below it).
		return &rewound{was: w.Revision, now: h.Revision, cluster: h.ClusterId}
	}
	switch held := etcdsync.HistoryHolds(ctx, cli, etcdsync.Witness(w)); {
	case held == etcdsync.Untold:
		return nil
	case g.lost(held, w):
		return &rewound{was: g.seen, now: h.Revision, cluster: h.ClusterId, forked: w}
	}
	if f := g.first; f.Revision > 0 && f != w {
		switch held := etcdsync.HistoryHolds(ctx, cli, etcdsync.Witness(f)); {
		case held == etcdsync.Untold:
			return nil // read again at the next check
		case g.lost(held, f):
			return &rewound{was: g.seen, now: h.Revision, cluster: h.ClusterId, forked: f}
		}
	}
	if g.next.Revision > 0 {
		g.witness, g.first = g.next, Witness{}
	}
	g.forget()
	return g.kept()
}

// stored notes first and last, the first and last witnessable events of
// a batch the watch passed on. With no witness confirmed yet (a fresh
// follower, or one that found etcd gone back), it checks etcd's history
// at once (one read of it, confirm) rather than at the next FollowCheck,
// so that last is confirmed while etcd's history holds it: an etcd
// restored and written past before that check handed the follower its
// own events, the last of which became the witness unread, and the fork
// was never found (TestFollowFreshFindsEtcdRestoredBeforeItsFirstCheck).
func (g *followGuard) stored(ctx context.Context, a *Admin, first, last Witness) error {
	g.next = last
	if g.first.Revision != 0 {
		return nil
	}
	g.first = first
	if g.witness.Revision == 0 {
		return g.check(ctx, a.cli, a.k.EventsDir())
	}
	return g.kept()
}

// kept tells keep the witnesses the next check reads.
func (g *followGuard) kept() error {
	if g.keep == nil {
		return nil
	}
	return g.keep(Witnesses{Confirmed: g.witness, First: g.first, Auth: g.auth.kept()})
}

// lost reports whether held, what etcd's history holds of w, is etcd gone
// back: NotHeld, or an event's key gone from a history compacted past it,
// since nothing deletes an event (a restored backup compacted past the
// event, which it never wrote: a key gone looks as one deleted since;
// TestForwardEventsFollowsEtcdBackCompactedPast). So is a key gone from
// events-by/ whose delete the watch did not pass on (deleted): a person
// may delete her own events, but a restored etcd never wrote hers either
// (TestForwardEventsFollowsEtcdBackCompactedPastAPersonsEvent). A use
// counter's key gone (its lease ended) cannot be told.
func (g *followGuard) lost(held etcdsync.Holding, w Witness) bool {
	return held == etcdsync.NotHeld || held == etcdsync.Gone && (strings.HasPrefix(w.Key, g.events) || g.byDir != "" && strings.HasPrefix(w.Key, g.byDir) && !g.deleted[w.Key])
}

// sawDeleted notes key, an event key the watch passed on the delete of,
// for lost: a person may delete her own events under events-by/.
func (g *followGuard) sawDeleted(key string) {
	if g.deleted == nil {
		g.deleted = map[string]bool{}
	}
	g.deleted[key] = true
}

// forget drops the deletes noted that confirm will read no more: the
// witnesses only move on to events stored later.
func (g *followGuard) forget() {
	for k := range g.deleted {
		if k != g.witness.Key && k != g.first.Key && k != g.next.Key {
			delete(g.deleted, k)
		}
	}
}

// rewindEvent is the flagged events.rewind event FollowEvents stores for
// back: at revision 0, so that a caller resuming from it reads etcd's
// history again from the start.
func (a *Admin) rewindEvent(back *rewound) Event {
	now := a.now().UTC()
	d := map[string]string{"was": strconv.FormatInt(back.was, 10), "now": strconv.FormatInt(back.now, 10)}
	if w := back.forked; w.Revision > 0 {
		d["forked_key"], d["forked_revision"] = w.Key, strconv.FormatInt(w.Revision, 10)
	}
	if back.wasCluster != back.nowCluster {
		d["was_cluster"], d["now_cluster"] = fmt.Sprintf("%x", back.wasCluster), fmt.Sprintf("%x", back.nowCluster)
	}
	return Event{Time: now, Observed: now, Action: ActionEventsRewind, Target: a.k.EventsDir(), Details: d,
		Key: fmt.Sprintf("%s%s%d-%d-%d", a.k.EventsDir(), rewindMark, back.was, back.now, now.UnixNano()), Cluster: back.cluster,
		Unverified: back.Error() + " (restored from a backup, or replaced?): etcd's history is read again from its start; " +
			"changes the old history held after the restored state that the collector had not stored yet are missing from etcd, and from this trail"}
}

// rewindMark starts the part of an events.rewind event's key after the
// events directory: was, now and the time in nanoseconds follow. now is
// etcd's revision when the follower found it gone back; a caller that
// proves the revision etcd went back to, below it, puts that one in its
// place (RewindKeyAt).
const rewindMark = "#rewind-"

// RewindKeyAt returns key, the key of an events.rewind event, naming rev
// as the revision etcd went back to (RewindRevision); ok is false for the
// key of any other event. etcd found gone back at revision now may have
// been written to since the restore took it to a lower one: the events
// of those revisions are new, and a caller that took every revision up
// to now as stored lost them.
func RewindKeyAt(key string, rev int64) (string, bool) {
	if _, ok := RewindRevision(key); !ok || rev < 0 {
		return key, false
	}
	i := strings.LastIndex(key, rewindMark) + len(rewindMark)
	f := strings.Split(key[i:], "-")
	return fmt.Sprintf("%s%s-%d-%s", key[:i], f[0], rev, f[2]), true
}

// PutAt reports whether etcd's history holds the event of key at revision
// rev: a put of key at rev, or its delete at rev. A revision compacted is
// read from the key as it is (unchanged since rev); one in etcd's future
// is no. An answer from another cluster than cluster (0: any) is an
// error. ForwardEvents asks it of events it stored, to find the revision
// etcd restored from a backup went back to: the events of the history
// both share are in etcd still, those written after the backup are not.
func (a *Admin) PutAt(ctx context.Context, key string, rev int64, cluster uint64) (bool, error) {
	get := func(at int64) (*clientv3.GetResponse, error) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		opts := []clientv3.OpOption{clientv3.WithKeysOnly()}
		if at > 0 {
			opts = append(opts, clientv3.WithRev(at))
		}
		resp, err := a.cli.Get(cctx, key, opts...)
		if err == nil && cluster != 0 && resp.Header.ClusterId != cluster {
			err = fmt.Errorf("etcd cluster %x answered, not %x", resp.Header.ClusterId, cluster)
		}
		return resp, err
	}
	resp, err := get(rev)
	switch {
	case errors.Is(err, rpctypes.ErrFutureRev):
		return false, nil
	case errors.Is(err, rpctypes.ErrCompacted):
		resp, err = get(0)
		if err != nil {
			return false, err
		}
		return len(resp.Kvs) == 1 && resp.Kvs[0].ModRevision == rev, nil
	case err != nil:
		return false, err
	}
	if len(resp.Kvs) == 1 {
		return resp.Kvs[0].ModRevision == rev, nil
	}
	// No key at rev: deleted at rev if it was there just before.
	if rev <= 1 {
		return false, nil
	}
	resp, err = get(rev - 1)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(resp.Kvs) == 1, nil
}

// RewindRevision returns the revision etcd went back to, for the key of
// an events.rewind event (FollowEvents), whose event carries the id of
// the cluster that went back: a caller that remembers the revisions it
// stored forgets those above it, which the cluster's history holds no
// more and will write again with other events. ok is false for the key
// of any other event.
func RewindRevision(key string) (rev int64, ok bool) {
	i := strings.LastIndex(key, rewindMark)
	if i < 0 {
		return 0, false
	}
	f := strings.Split(key[i+len(rewindMark):], "-")
	if len(f) != 3 {
		return 0, false
	}
	rev, err := strconv.ParseInt(f[1], 10, 64)
	return rev, err == nil && rev >= 0
}
