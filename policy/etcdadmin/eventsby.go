package etcdadmin

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Events under an etcd user's own directory (etcdsync.Layout.EventsBy):
// the CLI connected as an etcd user (Meta.EtcdUser) writes its events
// under events-by/<user>/, a range etcd's authentication lets only that
// user's role write (deploy/kubernetes gives each person one). Every
// reader takes the etcd user of such an event from its key, never from
// its value (bindEvent).

// DetailClaimedEtcdUser is the event detail that keeps an etcd user the
// event's value names but its key does not bind: the etcd user of an
// event under events/ (any writer of events/ may name anyone), or one
// under events-by/ that names another user than its directory's. Readers
// set it in place of DetailEtcdUser, which names only the user of the
// key's directory.
const DetailClaimedEtcdUser = "claimed_etcd_user"

// FlagMisattributed starts the Unverified of an event under events-by/
// whose value names another etcd user than the directory it was written
// in, or names none (every CLI writing there names its user: written by
// hand), or that lies in no user's directory: the event names the
// directory's user (or none), its value's claim is kept as
// DetailClaimedEtcdUser.
const FlagMisattributed = "event.misattributed"

// ActionEventDeleted is the flagged event the follower stores for the
// delete of an event key, under events/ or events-by/: no command deletes
// one, but etcd has no create-only permission, so a person's role may
// delete the events under her own directory (and the roles that may
// write events/, those under it).
const ActionEventDeleted = "event.deleted"

// bindEvent sets the etcd user of ev, the event read at key, from key:
// the user of its directory under events-by/ in DetailEtcdUser, and none
// for an event under events/, whose value's etcd user is moved to
// DetailClaimedEtcdUser (bound to no person: any writer of events/ may
// name anyone). It returns the flag of an event under events-by/ whose
// value names another user than its directory, or none, or that lies in
// no user's directory, or "" (TestFollowFlagsAnEventByNamingNoUser).
func (a *Admin) bindEvent(key string, ev *Event) string {
	claimed := ev.Details[DetailEtcdUser]
	user, bound := a.k.EventWriter(key)
	if claimed == "" && !bound && ev.Details[DetailClaimedEtcdUser] == "" {
		return unboundDirFlag(a, key)
	}
	ev.Details = maps.Clone(ev.Details)
	if ev.Details == nil {
		ev.Details = map[string]string{}
	}
	delete(ev.Details, DetailEtcdUser)
	delete(ev.Details, DetailClaimedEtcdUser) // only a reader sets it
	if claimed != "" && claimed != user {
		ev.Details[DetailClaimedEtcdUser] = claimed
	}
	if !bound {
		return unboundDirFlag(a, key)
	}
	ev.Details[DetailEtcdUser] = user
	switch {
	case claimed == "":
		// Every CLI writing under events-by/ names its user (eventOp;
		// the detail is older than the directory): an event naming none
		// was written by hand with the user's role.
		return fmt.Sprintf("%s: the value names no etcd user, which every CLI writing under %q names: written by hand with etcd user %q's role, which alone may write there: the event names %q", FlagMisattributed, a.k.EventsBy(user), user, user)
	case claimed != user:
		return fmt.Sprintf("%s: the value names etcd user %q, but the event was written under %q, which only etcd user %q's role may write: the event names %q", FlagMisattributed, claimed, a.k.EventsBy(user), user, user)
	}
	return ""
}

// unboundDirFlag is bindEvent's flag of key under events-by/ in no etcd
// user's directory, or "" for a key under events/.
func unboundDirFlag(a *Admin, key string) string {
	if !strings.HasPrefix(key, a.k.EventsByDir()) {
		return ""
	}
	return fmt.Sprintf("%s: written under %q, in no etcd user's directory (%s<user>/): bound to no etcd user", FlagMisattributed, key, a.k.EventsByDir())
}

// eventUser returns the etcd user ev names, bound by its key or only
// claimed (DetailClaimedEtcdUser): the two-person checks refuse a grant
// that names the request's user either way.
func eventUser(ev *Event) string {
	return cmp.Or(ev.Details[DetailEtcdUser], ev.Details[DetailClaimedEtcdUser])
}

// joinFlags joins the non-empty reasons of an event's Unverified.
func joinFlags(why ...string) string {
	return strings.Join(slices.DeleteFunc(why, func(s string) bool { return s == "" }), "; ")
}

// eventsAt returns the event keys an Admin change at time t, committed at
// revision rev, may have written: those under events/ keyed by t (the
// change's time, to the nanosecond) and those under each user's
// directory of events-by/ keyed by t too and created at rev (whose
// directory, the writer's etcd user, the caller does not know: every one
// is read, eventsByDirs). Every CLI keys its event by the change's time
// (eventOp), so an event keyed otherwise is not found, as under events/:
// its change is then flagged as written without its event. Before, the
// whole of events-by/ was read for each lookup, etcd filtering it by
// revision, so a grant's check cost every event ever written there
// (TestEventsByLookupsReadTheirOwnRanges).
func (a *Admin) eventsAt(ctx context.Context, t time.Time, rev int64) ([]*mvccpb.KeyValue, error) {
	resp, err := a.cli.Get(ctx, a.k.EventBound(t)+"-", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out, at := resp.Kvs, resp.Header.Revision
	suffix := strings.TrimPrefix(a.k.EventBound(t), a.k.EventsDir()) + "-"
	err = a.eventsByDirs(ctx, at, func(dir string, single bool, at int64) error {
		key, opts := dir+suffix, []clientv3.OpOption{clientv3.WithPrefix()}
		if single {
			key, opts = dir, nil // a key in no user's directory: read alone
		}
		by, err := a.cli.Get(ctx, key, append(opts, clientv3.WithRev(at), clientv3.WithMinCreateRev(rev), clientv3.WithMaxCreateRev(rev))...)
		if err != nil {
			return err
		}
		out = append(out, by.Kvs...)
		return nil
	})
	return out, err
}

// eventsByBetween returns the events under events-by/ whose key's time
// (the suffix EventBound reads, the writer's choice) lies in [from, to)
// (zero times are open ends), each user's in key order, reading each
// user's directory within those bounds only (eventsByDirs) at one
// revision; a key in no user's directory only when from is zero.
func (a *Admin) eventsByBetween(ctx context.Context, from, to time.Time) ([]*mvccpb.KeyValue, error) {
	lo, hi := "", ""
	if !from.IsZero() {
		lo = strings.TrimPrefix(a.k.EventBound(from), a.k.EventsDir())
	}
	if !to.IsZero() {
		hi = strings.TrimPrefix(a.k.EventBound(to), a.k.EventsDir())
	}
	var out []*mvccpb.KeyValue
	err := a.eventsByDirs(ctx, 0, func(dir string, single bool, at int64) error {
		key, end := dir+lo, clientv3.GetPrefixRangeEnd(dir)
		if hi != "" {
			end = dir + hi
		}
		if single {
			if lo != "" {
				return nil // no time to compare: as before, only an open start holds it
			}
			key, end = dir, dir+"\x00"
		}
		resp, err := a.cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithRev(at))
		if err != nil {
			return err
		}
		out = append(out, resp.Kvs...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read events under %q: %w", a.k.EventsByDir(), err)
	}
	return out, nil
}

// eventsByDirs calls fn with each directory under events-by/ (its first
// path segment, ending in "/"), in key order, and with each key there in
// no directory (single), all as etcd held them at revision at (0: the
// revision of its first read, passed on to fn). It asks etcd for one key
// per directory, the first past the one before, so a lookup costs a
// round trip per etcd user plus what it reads of each directory, not the
// whole of events-by/.
func (a *Admin) eventsByDirs(ctx context.Context, at int64, fn func(dir string, single bool, at int64) error) error {
	base := a.k.EventsByDir()
	end := clientv3.GetPrefixRangeEnd(base)
	for cursor := base; ; {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1), clientv3.WithKeysOnly()}
		if at != 0 {
			opts = append(opts, clientv3.WithRev(at))
		}
		resp, err := a.cli.Get(ctx, cursor, opts...)
		if err != nil {
			return err
		}
		if at == 0 {
			at = resp.Header.Revision
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		key := string(resp.Kvs[0].Key)
		seg, _, inDir := strings.Cut(strings.TrimPrefix(key, base), "/")
		next := key + "\x00"
		if inDir {
			key = base + seg + "/"
			next = clientv3.GetPrefixRangeEnd(key)
		}
		if err := fn(key, !inDir, at); err != nil {
			return err
		}
		cursor = next
	}
}

// deletedKey returns the flagged event of e, a delete in the range
// FollowEvents follows: an event's (eventDeleted), or a use counter's
// (counterDeleted); ok false for any other.
func (a *Admin) deletedKey(ctx context.Context, e *clientv3.Event, q *leaseAsk) (Event, bool) {
	if a.k.IsEvent(string(e.Kv.Key)) {
		return a.eventDeleted(e), true
	}
	return a.counterDeleted(ctx, e, q)
}

// eventDeleted returns the flagged event.deleted event of e, the delete
// of an event key: it names the key, the revisions it was created and
// last written at (from e's previous value), and the etcd user of its
// directory; the deleted value is not copied.
func (a *Admin) eventDeleted(e *clientv3.Event) Event {
	key, rev := string(e.Kv.Key), e.Kv.ModRevision
	now := a.now().UTC()
	ev := Event{Time: now, Observed: now, Action: ActionEventDeleted, Target: key, Key: key, Revision: rev, Details: map[string]string{}}
	if user, ok := a.k.EventWriter(key); ok {
		ev.Details[DetailEtcdUser] = user
	}
	if prev := e.PrevKv; prev != nil {
		ev.Details["created_revision"] = strconv.FormatInt(prev.CreateRevision, 10)
		ev.Details["last_written_revision"] = strconv.FormatInt(prev.ModRevision, 10)
	}
	ev.Unverified = fmt.Sprintf("event %q deleted at etcd revision %d (no command deletes an event: deleted by hand; the trail keeps the event as it was stored)", key, rev)
	return ev
}
