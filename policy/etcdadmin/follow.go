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

	"go.etcd.io/etcd/api/v3/mvccpb"
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
