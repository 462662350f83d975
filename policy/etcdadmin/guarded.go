package etcdadmin

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// guarded reports whether key is a revocation or a suspension: a change
// of one is written with its event in one transaction (RevokeKey,
// PruneRevocations, Suspend, Resume), or by a suspension's lease at its
// until, and FollowEvents flags any other (unattributed).
func (a *Admin) guarded(key string) bool {
	return strings.HasPrefix(key, a.k.RevocationsDir()) || strings.HasPrefix(key, a.k.SuspensionsDir())
}

// unattributed returns the flagged event of e, a put or delete of a
// revocation or a suspension, when none of evs (the events of e's
// revision, at least) speaks for it: a put of a revocation needs its
// key.revoke or token.revoke event, and to create it, the delete of one the
// token.revocation_expired event of a token's revocation that has lapsed
// (PruneRevocations deletes no other), a put of a suspension its
// client.suspend event, and the delete of one its client.resume event,
// unless its lease took it at its until. Such a change, by hand with the
// operator's etcd role or the collector's certificate, un-revoked a key
// or un-suspended a client with nothing in the trail (revdel176). The
// event names the key id or client and the etcd revision; its details
// hold only revisions, never a record's value. A delete read after the
// suspension's until (the collector down meanwhile, or its clock ahead)
// is flagged while etcd still holds its lease (leaseAsk.held: the lease's
// end deletes it with the lease), and flagged FlagLeaseUnchecked when etcd
// does not answer; once the lease has ended too it cannot be told from
// its lease's and yields no event.
func (a *Admin) unattributed(e *clientv3.Event, evs []Event, q *leaseAsk) (Event, bool) {
	key, rev := string(e.Kv.Key), e.Kv.ModRevision
	id, revocation := strings.CutPrefix(key, a.k.RevocationsDir())
	if !revocation {
		id = strings.TrimPrefix(key, a.k.SuspensionsDir())
	}
	put := e.Type == clientv3.EventTypePut
	prev := e.PrevKv
	now := a.now().UTC()
	ev := Event{Time: now, Observed: now, Target: id, Key: key, Revision: rev, Details: map[string]string{}}
	what := "revocation of " + strconv.Quote(id)
	if !revocation {
		what = "suspension of client " + strconv.Quote(id)
	}
	if put {
		ev.Details["created_revision"] = strconv.FormatInt(e.Kv.CreateRevision, 10)
	} else if prev != nil {
		ev.Details["created_revision"] = strconv.FormatInt(prev.CreateRevision, 10)
		ev.Details["last_written_revision"] = strconv.FormatInt(prev.ModRevision, 10)
	}
	switch {
	case revocation && put:
		ev.Action = ActionRevocationWritten
		ev.Unverified = fmt.Sprintf("%s written at etcd revision %d with no %s or %s event in its transaction (written by hand)", what, rev, ActionKeyRevoke, ActionTokenRevoke)
		if attributed(evs, rev, id, ActionKeyRevoke, ActionTokenRevoke) {
			// RevokeKey and RevokeToken write only a revocation not
			// there yet: one rewritten, with a revoke event beside it,
			// was given an expiry in the past and then pruned with a
			// token.revocation_expired event, the token usable again
			// and nothing flagged (TestFollowFlagsARevocationRewrittenWithARevokeEvent).
			if e.Kv.CreateRevision == rev {
				return Event{}, false
			}
			ev.Unverified = fmt.Sprintf("%s rewritten at etcd revision %d over the one written at %d, with a %s or %s event: those write only a revocation not there yet (rewritten by hand)",
				what, rev, e.Kv.CreateRevision, ActionKeyRevoke, ActionTokenRevoke)
		}
	case revocation:
		ev.Action = ActionRevocationDeleted
		ev.Unverified = fmt.Sprintf("%s deleted at etcd revision %d with no %s event in its transaction (deleted by hand): the key or token is no longer revoked", what, rev, ActionTokenRevocationExpired)
		if attributed(evs, rev, id, ActionTokenRevocationExpired) {
			why := lapsedRevocation(id, prev, now)
			if why == "" {
				return Event{}, false
			}
			ev.Unverified = fmt.Sprintf("%s deleted at etcd revision %d with a %s event, but %s: the key or token is no longer revoked", what, rev, ActionTokenRevocationExpired, why)
		}
	case put:
		if attributed(evs, rev, id, ActionClientSuspend) {
			return Event{}, false
		}
		ev.Action = ActionSuspensionWritten
		ev.Unverified = fmt.Sprintf("%s written at etcd revision %d with no %s event in its transaction (written by hand)", what, rev, ActionClientSuspend)
	default:
		if attributed(evs, rev, id, ActionClientResume) {
			return Event{}, false
		}
		until, why := suspensionEnd(prev, now)
		lease := leaseHeld
		if why == "" {
			lease = q.held(prev.Lease)
		}
		switch {
		case why == "" && lease == leaseGone:
			return Event{}, false // its lease's end
		case why == "" && lease == leaseHeld:
			why = "with its lease still held past its until " + until.Format(time.RFC3339) + " by the follower's clock"
		}
		ev.Action = ActionSuspensionDeleted
		if !until.IsZero() {
			ev.Details["until"] = until.Format(time.RFC3339)
		}
		ev.Unverified = fmt.Sprintf("%s deleted at etcd revision %d with no %s event in its transaction, %s (deleted by hand or its lease revoked): the client is no longer suspended", what, rev, ActionClientResume, why)
		if lease == leaseUnknown {
			ev.Unverified = uncheckedFlag(ev.Details, what, rev, until) + ": the client is no longer suspended"
		}
	}
	return ev, true
}

// attributed reports whether evs hold an event at revision rev of one of
// actions about target.
func attributed(evs []Event, rev int64, target string, actions ...string) bool {
	for i := range evs {
		if evs[i].Revision != rev || evs[i].Target != target {
			continue
		}
		for _, act := range actions {
			if evs[i].Action == act {
				return true
			}
		}
	}
	return false
}

// lapsedRevocation returns "" when prev, the record of revocation id
// before its delete, is a token's revocation lapsed at now (the one
// PruneRevocations deletes), or why not.
func lapsedRevocation(id string, prev *mvccpb.KeyValue, now time.Time) string {
	if prev == nil {
		return "its record before is not in etcd's history"
	}
	var r etcdsync.Revocation
	if json.Unmarshal(prev.Value, &r) != nil || r.ID != id || !r.Lapsed(now) {
		return "its record was no token revocation that had lapsed"
	}
	return ""
}

// suspensionEnd returns the until of prev, the record of a suspension
// before its delete, and "" when the delete may be its lease's end: on a
// lease, at or after its until (a minute's leeway for the clocks), or why
// not.
func suspensionEnd(prev *mvccpb.KeyValue, now time.Time) (time.Time, string) {
	if prev == nil {
		return time.Time{}, "its record before is not in etcd's history"
	}
	s, err := etcdsync.DecodeSuspension(string(prev.Value))
	switch {
	case err != nil:
		return time.Time{}, "its record did not decode"
	case prev.Lease == 0:
		return s.Until, "on no lease"
	case now.Before(s.Until.Add(-claimSkew)):
		return s.Until, "before its until " + s.Until.Format(time.RFC3339)
	}
	return s.Until, ""
}
