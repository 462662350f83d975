// FollowEvents' checks of each event read against etcd's history: the change it describes happened
// at its revision, approval uses and pushes spent what they claim, and counter deletes judged by
// their lease.

package etcdadmin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

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
