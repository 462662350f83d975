package etcdadmin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// FollowEvents calls fn with every lifecycle event written after revision
// from, oldest first, as they happen, until ctx ends or fn fails. It
// watches from revision from+1, so a collector that was down catches up
// from etcd's history; fn gets each event with its etcd revision, and a
// caller that records the last revision of each batch it stored can
// resume from it without duplicates.
//
// The events are the keys under events/ and events-by/ (the etcd user
// of one under events-by/<user>/ is the key's, bindEvent; a delete of
// either is a flagged event.deleted, eventDeleted) and the versions of
// the approval use counters under approval-uses/, each an approval.use
// event (readUse):
// a sidecar may write the latter and not the former. One watch of the key
// range from approval-uses/ to the end of suspensions/ sees both in
// revision order, with every put since from, to keys deleted since among
// them: a counter a sidecar deleted (or whose uses lease it revoked) after
// spending its uses still yields them. The deletion of a counter that
// held uses before its lease's natural end is an approval.counter_delete
// event, flagged (counterDeleted). A put or delete under revocations/ or
// suspensions/ that no event of its own revision speaks for (a revocation
// deleted by hand un-revokes its key) is a revocation.* or suspension.*
// _unattributed event, flagged (unattributed), and so is a put or delete
// of the policy, a policy-history/ entry, a key record under keys/ or an
// approval record under approvals/, which every CLI writer puts with its
// event in one transaction and none deletes (but an approval's lease):
// a policy.*, policy_history.*, key.* or approval.* _unattributed event
// (handWritten). Those name the record and the revision; a record's
// value is never copied (a key record's SHA-256 reaches no event). The
// other keys in that range (audit/, demand/, members/, resumed/: the
// most are the members', one a sidecar after each change it applies) are
// skipped by their prefix, their values never decoded. When etcd has
// compacted the history after from, it reads the keys as they are
// instead and adds an events.gap event, flagged, saying that uses of
// counters deleted since from may be missing, as may the revocations,
// suspensions and records deleted since without their event, and a write
// by hand written over since: only each key's last write is judged
// (catchUpCompacted).
//
// etcd restored from a backup, or replaced by another cluster, answers
// below the revision followed; a watch from there is in etcd's future,
// and the events written since the restore, at revisions already
// followed, would never arrive. Before it watches, and every
// FollowCheck while it does, FollowEvents reads etcd linearizably; etcd
// below the revision followed (also across a collector restart: from is
// the resume revision) or another cluster id is etcd gone back. It then
// passes fn an events.rewind event, flagged, at revision 0 (a caller that
// resumes from the last revision it stored reads everything again after a
// restart), and follows etcd's history again from its start: the events
// stored before are the same keys at the same revisions, which the caller
// skips as it skips any event it holds.
func (a *Admin) FollowEvents(ctx context.Context, from int64, fn func([]Event) error) error {
	return a.FollowEventsAfter(ctx, from, Witnesses{}, nil, fn)
}

// Witness is an event a caller of FollowEventsAfter stored: the key and
// the revision etcd wrote it at (Witnessable).
type Witness struct {
	Key      string
	Revision int64
}

// Witnesses is what a caller of FollowEventsAfter kept of etcd's history:
// the last event it stored, the event the next check was to read first
// (Confirmed: the last one a check found etcd's history to hold, or the
// last one stored when it did, which the check moved on to), and the
// first one stored since (First), which the check reads too before it
// moves on (the zero Witness: none).
type Witnesses struct {
	Last, Confirmed, First Witness
	// Auth is what the follower proved of etcd's authentication
	// (authstatus.go), kept so that a restart binds the events under
	// events-by/ written while it was down only when authentication
	// stayed on.
	Auth AuthMark
}

// Witnessable reports whether an event of action is a key etcd held at
// the event's revision, which a Witness may name: not the events.gap and
// events.rewind events FollowEvents makes, nor a counter's deletion, nor
// an unattributed change of a revocation, suspension or record
// (HandWritten: its key may be deleted or written since, as nothing
// deletes an event's).
func Witnessable(action string) bool {
	if action == ActionEventsGap || action == ActionEventsRewind || action == ActionCounterDelete || action == ActionEventDeleted || HandWritten(action) {
		return false // made by the follower; the key they name may be deleted
	}
	return true
}

// FollowEventsAfter is FollowEvents for a caller that stored w, the last
// event it stored (the zero Witness: none). etcd restored from a backup
// and then written past the revision followed answers above it, so
// comparing revisions misses it, and the watch from there skips every
// event the restored etcd wrote below it: a collector down while that
// happened resumed with those events lost to the trail. Before it
// watches, and at each FollowCheck, FollowEventsAfter reads the key of
// the last event stored (w, then each event it passes fn) at that
// event's revision: etcd's history not holding it there is etcd gone
// back too. The events.rewind event it stores then names the event, and
// etcd's revision as the one it went back to, at most: the caller finds
// the one below, where the histories forked (the collector: by bisection
// over the events it stored, rewindfloor.go), and etcd's history is read
// again (TestForwardEventsFollowsEtcdBackWrittenPast). A history compacted past
// the event cannot be compared: the check waits for the next event.
//
// The last event stored is no proof on its own: a caller whose watch
// passed it an event of the restored etcd (written past the revision
// followed) and that stopped before the next check would take that event
// for its witness at its restart, and etcd's history holds it. So w also
// names the event the next check was to read (Witnesses.Confirmed), which
// is checked first, and the first event stored since (Witnesses.First),
// read before the last; keep is called with those two (Last zero) after
// each check and each time the watch stores the first event since, and
// with the zero Witnesses once a rewind has been passed to fn, for the
// caller to keep across restarts
// (TestForwardEventsRestartedAfterAForkedEventKeepsTheCheck; without
// First, a collector that stopped after its watch stored an event of the
// restored etcd read the confirmed event, which the backup holds, and
// that one, and the events stored between, which the restore lost, were
// never read: TestForwardEventsRestartedKeepsTheFirstEventSinceTheCheck).
//
// w.Auth is what the follower before proved of etcd's authentication
// (AuthMark), passed to keep with the witnesses: an event under
// events-by/ binds its directory's user only when it was written after
// the revision authentication is proven on since. Without it (the first
// start), every event written before the first read that finds
// authentication on is unproven (FlagAuthOff): the follower cannot tell
// whether authentication was off when it was written.
func (a *Admin) FollowEventsAfter(ctx context.Context, from int64, w Witnesses, keep func(Witnesses) error, fn func([]Event) error) error {
	auth := &authSeen{seed: w.Auth} // authstatus.go: events-by/ binds no one without etcd authentication
	fn = a.authFlagged(ctx, auth, fn)
	g := followGuard{witness: w.Last, keep: keep, events: a.k.EventsDir(), byDir: a.k.EventsByDir(), auth: auth, admin: a}
	if w.Confirmed.Revision > 0 {
		g.witness, g.first, g.next = w.Confirmed, w.First, w.Last
	}
	for {
		compacted, err := a.watchEvents(ctx, from, &g, fn)
		if back, ok := errors.AsType[*rewound](err); ok {
			if err := fn([]Event{a.rewindEvent(back)}); err != nil {
				return err
			}
			if keep != nil {
				if err := keep(Witnesses{}); err != nil {
					return err
				}
			}
			// What the follower proved of etcd's authentication is of the
			// history etcd went back from: a backup taken while it was off
			// holds the auth revision it was turned on at
			// (TestFollowUnprovenForAnEventWrittenOnARestoredEtcdWithAuthOff).
			*auth = authSeen{}
			from, g = 0, followGuard{keep: keep, events: a.k.EventsDir(), byDir: a.k.EventsByDir(), auth: auth, admin: a}
			continue
		}
		if compacted == 0 {
			return err
		}
		if from, err = a.catchUpCompacted(ctx, from, compacted, fn); err != nil {
			return err
		}
	}
}

// watchEvents passes fn the events of the watch from revision from+1 until
// ctx ends, fn fails or the watch breaks. It returns etcd's compact
// revision, and no error, when the history from from+1 is compacted.
func (a *Admin) watchEvents(ctx context.Context, from int64, g *followGuard, fn func([]Event) error) (int64, error) {
	start, end := a.k.ApprovalUsesDir(), clientv3.GetPrefixRangeEnd(a.k.SuspensionsDir())
	g.seen = max(g.seen, from)
	if err := g.check(ctx, a.cli, a.k.EventsDir()); err != nil {
		return 0, err // etcd is below the revision to resume from
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	tick := time.NewTicker(FollowCheck)
	defer tick.Stop()
	var batch []Event
	var guarded []*clientv3.Event
	wch := a.cli.Watch(wctx, start, clientv3.WithRange(end), clientv3.WithRev(from+1), clientv3.WithPrevKV())
	for {
		var wr clientv3.WatchResponse
		select {
		case <-tick.C:
			if err := g.check(ctx, a.cli, a.k.EventsDir()); err != nil {
				return 0, err
			}
			continue
		case r, ok := <-wch:
			if !ok {
				return 0, ctx.Err()
			}
			wr = r
		}
		if wr.CompactRevision != 0 {
			return wr.CompactRevision, nil
		}
		if err := wr.Err(); err != nil {
			return 0, fmt.Errorf("watching events from %q to the end of %q: %w", start, a.k.SuspensionsDir(), err)
		}
		if err := g.answered(wr.Header.Revision, wr.Header.ClusterId); err != nil {
			return 0, err
		}
		batch, guarded = batch[:0], guarded[:0]
		var first, last Witness
		q := a.newLeaseAsk(ctx) // the lease questions of this response share one budget
		for _, e := range wr.Events {
			if a.judged(string(e.Kv.Key)) {
				guarded = append(guarded, e) // judged against the events of its revision, below
				continue
			}
			var ev Event
			ok := false
			if e.Type == clientv3.EventTypePut {
				ev, ok = a.followed(ctx, e.Kv)
			} else {
				ev, ok = a.deletedKey(ctx, e, q) // eventsby.go
				if ok && ev.Action == ActionEventDeleted {
					g.sawDeleted(ev.Key)
				}
			}
			if ok {
				batch = append(batch, ev)
				if Witnessable(ev.Action) {
					last = Witness{Key: ev.Key, Revision: ev.Revision}
					if first.Revision == 0 {
						first = last
					}
				}
			}
		}
		// A response holds every change of a revision (etcd ends a watch
		// batch at a revision's end), so the event of a revocation's,
		// suspension's or record's transaction is in batch with it.
		if n := len(batch); len(guarded) > 0 {
			for _, e := range guarded {
				if ev, ok := a.judge(e, batch[:n], q); ok {
					batch = append(batch, ev)
				}
			}
			slices.SortStableFunc(batch, func(x, y Event) int { return cmp.Compare(x.Revision, y.Revision) })
		}
		for i := range batch {
			batch[i].Cluster = wr.Header.ClusterId
		}
		if err := ctx.Err(); err != nil {
			// Ended while judging: a lease question cut short reads
			// unchecked (leaseAsk), so the response is not passed on;
			// a caller resuming from its last batch reads it again.
			return 0, err
		}
		if g.auth != nil && a.bindsPast(batch, g.auth.at) {
			// Read etcd's history (and its authentication) before such an
			// event binds: the auth revision cannot tell an etcd restored
			// from a backup taken with authentication off, written past
			// and turned on again, from the history the follower proved
			// it on in; the fork can
			// (TestFollowUnprovenForAnEventWrittenPastOnARestoredEtcdWithAuthOff).
			if err := g.check(ctx, a.cli, a.k.EventsDir()); err != nil {
				return 0, err
			}
		}
		if err := emit(batch, fn); err != nil {
			return 0, err
		}
		if last.Revision > 0 {
			if err := g.stored(ctx, a, first, last); err != nil {
				return 0, err
			}
		}
	}
}

// FollowCheck is how often FollowEvents reads etcd to find it gone back
// in revision.
var FollowCheck = 5 * time.Second

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

// catchUpCompacted passes fn the events FollowEvents finds in the keys as
// they are (etcd's history from from+1 is compacted at compacted): the
// events under events/ and events-by/ and the counters changed since
// from, with their versions still in history, the revocations,
// suspensions and records (handWritten) whose last write since from no
// event speaks for, then an events.gap event at the revision read,
// flagged. It cannot see a delete in the history compacted, nor a write by hand written over since: only
// each key's last write is judged, against the events of its revision (a
// policy put by hand, then put back by hand, is flagged once, at the put
// back; one pushed over since is the push alone). It returns the
// revision read, to watch from.
func (a *Admin) catchUpCompacted(ctx context.Context, from, compacted int64, fn func([]Event) error) (int64, error) {
	start, end := a.k.ApprovalUsesDir(), clientv3.GetPrefixRangeEnd(a.k.EventsDir())
	resp, err := a.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithMinModRev(from+1), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	if err != nil {
		return 0, fmt.Errorf("cannot read events under %q and %q: %w", a.k.EventsDir(), start, err)
	}
	var batch []Event
	for _, kv := range resp.Kvs {
		if _, ok := a.k.ParseApprovalCounter(string(kv.Key)); ok {
			batch = a.appendVersions(ctx, batch, kv, from)
			continue
		}
		if ev, ok := a.followed(ctx, kv); ok {
			batch = append(batch, ev)
		}
	}
	rev := resp.Header.Revision
	// The revocations, suspensions and records written since from, as
	// they are at rev, each judged against the events of its revision: a
	// delete in the history compacted is not seen, nor a write by hand
	// written over since (only the last write of each key is read; the
	// events.gap says so).
	n := len(batch)
	for _, r := range a.judgedRanges() {
		// Keys only: a put is judged by its revisions, and a key
		// record's value (its SHA-256) is not even read.
		gresp, err := a.cli.Get(ctx, r[0], clientv3.WithRange(r[1]), clientv3.WithRev(rev), clientv3.WithMinModRev(from+1), clientv3.WithKeysOnly())
		if err != nil {
			return 0, fmt.Errorf("cannot read the keys from %q to %q: %w", r[0], r[1], err)
		}
		for _, kv := range gresp.Kvs {
			if ev, ok := a.judge(&clientv3.Event{Type: clientv3.EventTypePut, Kv: kv}, batch[:n], nil); ok {
				batch = append(batch, ev)
			}
		}
	}
	now := a.now().UTC()
	batch = append(batch, Event{Time: now, Observed: now, Action: ActionEventsGap, Target: a.k.ApprovalUsesDir(), Key: a.k.ApprovalUsesDir(), Revision: rev,
		Details: map[string]string{"from": strconv.FormatInt(from+1, 10), "to": strconv.FormatInt(rev, 10), "compacted": strconv.FormatInt(compacted, 10)},
		Unverified: fmt.Sprintf("etcd history from revision %d is compacted (at %d): read the keys as they are at %d; uses of approval use counters deleted since revision %d may be missing, "+
			"as may revocations and suspensions deleted since without their event, key records, approval records, policy history entries and the policy likewise, "+
			"and a write of any of them by hand written over since (only the last write of each is read); the writes read are judged by their keys, "+
			"not their values (a key record rewritten under a key.rotate, an approval record under its grant or deny, are not compared with what they were)", from+1, compacted, rev, from+1)})
	slices.SortStableFunc(batch, func(x, y Event) int { return cmp.Compare(x.Revision, y.Revision) })
	for i := range batch {
		batch[i].Cluster = resp.Header.ClusterId
	}
	return rev, emit(batch, fn)
}

// judgedRanges are the key ranges ([start, end)) catchUpCompacted reads
// for changes judged against their events (judged): the revocations and
// suspensions, the approval records, the key records, the policy and its
// history; not the members between them.
func (a *Admin) judgedRanges() [][2]string {
	return [][2]string{
		{a.k.RevocationsDir(), clientv3.GetPrefixRangeEnd(a.k.SuspensionsDir())},
		{a.k.ApprovalsDir(), clientv3.GetPrefixRangeEnd(a.k.ApprovalsDir())},
		{a.k.KeysDir(), clientv3.GetPrefixRangeEnd(a.k.KeysDir())},
		{a.k.Policy(), a.k.Policy() + "\x00"},
		{a.k.HistoryDir(), clientv3.GetPrefixRangeEnd(a.k.HistoryDir())},
	}
}

// maxBatchBytes bounds the encoded size of the events FollowEvents passes
// to fn at once (unless one revision's events alone pass it), so that a
// catch-up over many or large events does not become one huge write.
const maxBatchBytes = 4 << 20

// emit calls fn with evs, sorted by revision, in batches of at most
// maxBatchBytes encoded, each ending at a revision's last event (a caller
// that records the last revision of a batch resumes after all of it).
func emit(evs []Event, fn func([]Event) error) error {
	start, size := 0, 0
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err != nil {
			return fmt.Errorf("cannot encode event %q at revision %d: %w", evs[i].Key, evs[i].Revision, err)
		}
		boundary := i > start && evs[i].Revision != evs[i-1].Revision
		if boundary && size+len(b) > maxBatchBytes {
			if err := fn(evs[start:i]); err != nil {
				return err
			}
			start, size = i, 0
		}
		size += len(b)
	}
	if start < len(evs) {
		return fn(evs[start:])
	}
	return nil
}

// followed returns the event of kv, a write in the range FollowEvents
// follows, or ok false for a key that is neither an event nor a use
// counter's use.
func (a *Admin) followed(ctx context.Context, kv *mvccpb.KeyValue) (Event, bool) {
	key := string(kv.Key)
	switch {
	case a.k.IsEvent(key): // events/ and events-by/ (eventsby.go)
		return a.readEvent(ctx, kv), true
	case strings.HasPrefix(key, a.k.ApprovalUsesDir()):
		r, ok := a.readUse(ctx, kv)
		return r.ev, ok
	}
	return Event{}, false
}

// appendVersions appends to batch the approval.use events of the versions
// of the counter kv written after revision from.
func (a *Admin) appendVersions(ctx context.Context, batch []Event, kv *mvccpb.KeyValue, from int64) []Event {
	kvs, note := a.counterVersions(ctx, kv, from)
	for _, v := range kvs {
		if r, ok := a.readUse(ctx, v); ok {
			if note != "" && v == kv {
				r.ev.Unverified = cmp.Or(r.ev.Unverified, note)
			}
			batch = append(batch, r.ev)
		}
	}
	return batch
}

// readEvent decodes the event at kv and checks it against etcd: its
// revision, key and observation time come from etcd, and the change it
// describes must be part of the same transaction (issue 21 item 6). An
// event that fails is returned with Unverified set, never dropped: the
// trail shows what was written under events/ or events-by/.
func (a *Admin) readEvent(ctx context.Context, kv *mvccpb.KeyValue) Event {
	var ev Event
	err := json.Unmarshal(kv.Value, &ev)
	ev.Revision, ev.Key, ev.Observed = kv.ModRevision, string(kv.Key), a.now().UTC()
	bound := ""
	if err == nil {
		bound = a.bindEvent(ev.Key, &ev) // eventsby.go: the etcd user from the key
	}
	switch {
	case err != nil:
		ev.Action, ev.Unverified = "unknown", fmt.Sprintf("value is not an event: %v", err)
	case kv.CreateRevision != kv.ModRevision:
		ev.Unverified = fmt.Sprintf("event key rewritten at revision %d after its creation at %d", kv.ModRevision, kv.CreateRevision)
	default:
		ev.Unverified = a.verifyChange(ctx, &ev)
	}
	ev.Unverified = joinFlags(bound, ev.Unverified)
	return ev
}

// verifyChange checks that the change ev describes happened at ev.Revision,
// the revision of the event's own write: every Admin change writes its
// event in the same transaction. It returns "" or why not.
func (a *Admin) verifyChange(ctx context.Context, ev *Event) string {
	switch ev.Action {
	case ActionPolicyPush:
		if ev.Target != a.k.Policy() {
			return fmt.Sprintf("policy push names target %q, not %q", ev.Target, a.k.Policy())
		}
		return cmp.Or(a.putAt(ctx, a.k.Policy(), ev.Revision), a.replacedProblem(ctx, ev))
	case ActionKeyCreate, ActionKeyRotate:
		if why := a.putAt(ctx, a.k.Key(ev.Target), ev.Revision); why != "" || ev.Action == ActionKeyCreate {
			return why
		}
		return a.putAt(ctx, a.k.Key(ev.Details["new_key"]), ev.Revision)
	case ActionKeyRevoke, ActionTokenRevoke:
		return a.putAt(ctx, a.k.Revocation(ev.Target), ev.Revision)
	case ActionClientSuspend:
		return a.putAt(ctx, a.k.Suspension(ev.Target), ev.Revision)
	case ActionClientResume:
		return a.deletedAt(ctx, a.k.Suspension(ev.Target), ev.Revision)
	case ActionTokenRevocationExpired:
		return a.deletedAt(ctx, a.k.Revocation(ev.Target), ev.Revision)
	case etcdsync.ActionApprovalUse:
		return a.useChangeProblem(ctx, ev)
	case etcdsync.ActionApprovalGrant:
		if why := a.putAt(ctx, a.k.Approval(ev.Target), ev.Revision); why != "" {
			return why
		}
		ap, _, why := a.approvalAtRev(ctx, ev.Target, ev.Revision)
		req, why2 := a.requestOf(ctx, ev.Target, ev.Revision)
		return cmp.Or(why, why2, selfGrantProblem(ap, req, ev)) // approvaluses.go
	case etcdsync.ActionApprovalRequest:
		return cmp.Or(a.putAt(ctx, a.k.Approval(ev.Target), ev.Revision), a.requestRecordProblem(ctx, ev)) // requestrecord.go
	case etcdsync.ActionApprovalDeny:
		return a.putAt(ctx, a.k.Approval(ev.Target), ev.Revision)
	}
	for _, p := range [...]string{"evidence.", "review.", "alert."} {
		if strings.HasPrefix(ev.Action, p) {
			return "" // RecordEvidenceEvent's or RecordAlertEvent's: the event is the whole change, written once (readEvent)
		}
	}
	return fmt.Sprintf("unknown action %q", ev.Action)
}

// useChangeProblem checks the change of ev, an approval.use: the CLI
// writes a use with the put of the approval's counter only (approvalUse),
// never with a write of its record, which no use speaks for (spokenFor:
// handWritten flags it approval.written_unattributed). A use with its
// record put in its transaction is flagged too, with the counter's put or
// without: the CLIs from before the counter rewrote the record with their
// use, and a use so written, by them or by hand, was stored verified
// beside the flagged write of its record. One with no counter put names
// no use spent; one with it spent the grant the record held then
// (usedGrantProblem).
func (a *Admin) useChangeProblem(ctx context.Context, ev *Event) string {
	if a.putAt(ctx, a.k.Approval(ev.Target), ev.Revision) == "" {
		return fmt.Sprintf("approval record %q rewritten at revision %d with its approval.use: a use writes its counter under approval-uses/ only (a CLI from before the counter, or written by hand)", ev.Target, ev.Revision)
	}
	if why := a.putAt(ctx, a.k.ApprovalCounter(ev.Target), ev.Revision); why != "" {
		return why
	}
	return a.usedGrantProblem(ctx, ev)
}

// usedGrantProblem checks that the grant of the approval the use ev spent
// at its revision was written by a grant, with its approval.grant event
// (grantEventProblem), and for the client and route ev names: a use is a
// use of what the record said then. The event is the operator's, who
// could otherwise spend a second person's grant for one route on another
// (a policy push of their own document) with a verified use.
func (a *Admin) usedGrantProblem(ctx context.Context, ev *Event) string {
	ap, recRev, why := a.approvalAtRev(ctx, ev.Target, ev.Revision)
	if why != "" {
		return why
	}
	if c, r := ev.Details["client"], ev.Details["route"]; c != ap.Client || r != ap.Route {
		return fmt.Sprintf("use names client %q and route %q, but approval %q at revision %d is for client %q and route %q", c, r, ap.ID, recRev, ap.Client, ap.Route)
	}
	if why := a.pushBaseProblem(ctx, ap, ev.Revision); why != "" {
		return why
	}
	return a.grantEventProblem(ctx, ap, recRev)
}

// pushBaseProblem checks that an approval of a policy push, ap, spent at
// revision rev with the put of the policy, was asked against the policy
// that put replaced: what the document weakens was computed against that
// one (sameBase, which approvals grant and policy push check). A push
// written by hand spent such an approval with a verified use. "" for an
// approval of another route, or a use with no policy put at rev.
func (a *Admin) pushBaseProblem(ctx context.Context, ap etcdsync.Approval, rev int64) string {
	if !IsPolicyPushRoute(ap.Route) || a.putAt(ctx, a.k.Policy(), rev) != "" {
		return ""
	}
	resp, err := a.cli.Get(ctx, a.k.Policy(), clientv3.WithRev(rev-1), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Sprintf("cannot read the policy at revision %d: %v", rev-1, err)
	}
	var replaced int64
	if len(resp.Kvs) == 1 {
		replaced = resp.Kvs[0].ModRevision
	}
	if ap.PolicyRevision != replaced {
		return fmt.Sprintf("approval %q was asked against the policy at revision %d, but the push it was spent on at revision %d replaced the policy of revision %d: what the document weakens of that one is not what was approved", ap.ID, ap.PolicyRevision, rev, replaced)
	}
	return ""
}

// replacedProblem checks that the previous_revision a policy.push ev
// names, when it names one, is the revision of the policy it replaced
// (0 for none): the follower numbers the push's history entry after it
// (pushEntry), and an event naming an older one would speak for an entry
// numbered between older pushes.
func (a *Admin) replacedProblem(ctx context.Context, ev *Event) string {
	named, ok := ev.Details["previous_revision"]
	if !ok {
		return ""
	}
	resp, err := a.cli.Get(ctx, a.k.Policy(), clientv3.WithRev(ev.Revision-1))
	if err != nil {
		return fmt.Sprintf("cannot read %q at revision %d: %v", a.k.Policy(), ev.Revision-1, err)
	}
	var was int64
	if len(resp.Kvs) > 0 {
		was = resp.Kvs[0].ModRevision
	}
	if named != strconv.FormatInt(was, 10) {
		return fmt.Sprintf("policy push names previous_revision %s, but the policy it replaced was written at revision %d", named, was)
	}
	return ""
}

// putAt checks that key was written at revision rev.
func (a *Admin) putAt(ctx context.Context, key string, rev int64) string {
	if strings.HasSuffix(key, "/") {
		return fmt.Sprintf("event names no target (%q)", key)
	}
	resp, err := a.cli.Get(ctx, key, clientv3.WithRev(rev))
	if err != nil {
		return fmt.Sprintf("cannot read %q at revision %d: %v", key, rev, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].ModRevision != rev {
		return fmt.Sprintf("%q was not written at revision %d", key, rev)
	}
	return ""
}

// deletedAt checks that key was deleted at revision rev: present just
// before, absent at rev.
func (a *Admin) deletedAt(ctx context.Context, key string, rev int64) string {
	before, err := a.cli.Get(ctx, key, clientv3.WithRev(rev-1), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Sprintf("cannot read %q at revision %d: %v", key, rev-1, err)
	}
	at, err := a.cli.Get(ctx, key, clientv3.WithRev(rev), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Sprintf("cannot read %q at revision %d: %v", key, rev, err)
	}
	if before.Count != 1 || at.Count != 0 {
		return fmt.Sprintf("%q was not deleted at revision %d", key, rev)
	}
	return ""
}

// counterDeleted returns the approval.counter_delete event of e, a
// deletion in the range FollowEvents follows, when it deleted a use
// counter that held uses (version 2 or more; e carries the previous value)
// before its uses lease's natural end, the grant's expiry plus
// etcdsync.UseRetention: a sidecar's etcd role can delete the counter or
// revoke the lease. The event is flagged, never taken as proof of
// anything but the deletion; the uses themselves come from the counter's
// puts. A deletion read after that end by the follower's clock is
// flagged too when the counter was on no lease or etcd still holds its
// lease (leaseAsk.held: the lease's end deletes the counter with it), and
// flagged FlagLeaseUnchecked when etcd does not answer (q); otherwise it
// is the lease's and yields no event, as does one
// FollowEvents cannot tell from it (replayed once the lease has ended
// too).
func (a *Admin) counterDeleted(ctx context.Context, e *clientv3.Event, q *leaseAsk) (Event, bool) {
	id, ok := a.k.ParseApprovalCounter(string(e.Kv.Key))
	if !ok {
		return Event{}, false
	}
	prev := e.PrevKv
	if prev != nil && prev.Version < 2 {
		return Event{}, false // no use on it
	}
	now := a.now().UTC()
	ev := Event{Action: ActionCounterDelete, Target: id, Time: now, Observed: now, Key: string(e.Kv.Key), Revision: e.Kv.ModRevision}
	if prev == nil {
		ev.Unverified = fmt.Sprintf("use counter of approval %q deleted at revision %d; its value before is not in etcd's history, so its uses may be missing", id, ev.Revision)
		return ev, true
	}
	ev.Details = map[string]string{"uses": strconv.FormatInt(prev.Version-1, 10), "counter_created": strconv.FormatInt(prev.CreateRevision, 10)}
	ap, _, why := a.approvalAtRev(ctx, id, prev.CreateRevision)
	switch {
	case why != "":
		ev.Unverified = fmt.Sprintf("use counter of approval %q with %d uses deleted at revision %d: %s", id, prev.Version-1, ev.Revision, why)
	case ap.State != etcdsync.ApprovalGranted:
		ev.Unverified = fmt.Sprintf("use counter of approval %q with %d uses, created while it was %s, deleted at revision %d", id, prev.Version-1, ap.State, ev.Revision)
	case now.Before(ap.Expires.Add(etcdsync.UseRetention - claimSkew)):
		ev.Unverified = fmt.Sprintf("use counter of approval %q with %d uses deleted at revision %d before its uses lease's end %s (deleted or its lease revoked)", id, prev.Version-1, ev.Revision, ap.Expires.Add(etcdsync.UseRetention).Format(time.RFC3339))
	case prev.Lease == 0:
		ev.Unverified = fmt.Sprintf("use counter of approval %q with %d uses, on no lease, deleted at revision %d (deleted by hand: no lease took it)", id, prev.Version-1, ev.Revision)
	default:
		switch q.held(prev.Lease) {
		case leaseGone:
			return Event{}, false
		case leaseHeld:
			ev.Unverified = fmt.Sprintf("use counter of approval %q with %d uses deleted at revision %d while etcd still holds its uses lease, past its end %s by the follower's clock (deleted by hand)", id, prev.Version-1, ev.Revision, ap.Expires.Add(etcdsync.UseRetention).Format(time.RFC3339))
		default:
			ev.Unverified = uncheckedFlag(ev.Details, fmt.Sprintf("use counter of approval %q with %d uses", id, prev.Version-1), ev.Revision, ap.Expires.Add(etcdsync.UseRetention))
		}
	}
	return ev, true
}
