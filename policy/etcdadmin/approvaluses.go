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

// claimSkew is how far a use's claimed time may lie outside its grant's
// window (decided to expires) before the use is flagged: the sidecars'
// clocks and the operator's differ a little.
const claimSkew = time.Minute

// DetailClaimed lists the details of an approval.use event read from a
// use counter that are the writer's word (etcdsync.ApprovalUse): a
// sidecar's etcd user can write any of them.
const DetailClaimed = "claimed"

// claimedFields is the value of DetailClaimed.
const claimedFields = "client route request_id sidecar claimed_time"

// useRead is a use counter's version read as an approval.use event, with
// what ListEvents dates it by.
type useRead struct {
	ev               Event
	claimed          time.Time // the time the writer claims
	decided, expires time.Time // the grant's window, zero when unknown
}

// readUse returns the approval.use event of kv, one version of a use
// counter under approval-uses/ (etcdsync.ApprovalUse), or ok false for
// the counter's creation by the grant (version 1) and for a use the CLI
// wrote with its own event under events/, or events-by/<user>/ when
// written as an etcd user (that event, written by the operator, stands
// for it: pairedEvent). Nothing the counter holds is taken as proof:
// the event has no actor and no etcd user, its time is when it was read
// (Observed), and the record's client, route, request id, sidecar and
// time are details named in DetailClaimed. It is checked against the
// grant as it was at the use's revision: the counter must be the one the
// grant created, the use number (version - 1) one max_uses allows, the
// client and route the grant's, the claimed time within the grant's
// window, and the record must claim no CLI actor. An event that fails is
// returned with Unverified set, never dropped.
func (a *Admin) readUse(ctx context.Context, kv *mvccpb.KeyValue) (useRead, bool) {
	id, _ := a.k.ParseApprovalCounter(string(kv.Key))
	if kv.Version < 2 || id == "" {
		return useRead{}, false
	}
	now := a.now().UTC()
	r := useRead{ev: Event{Action: etcdsync.ActionApprovalUse, Target: id, Time: now, Revision: kv.ModRevision, Key: string(kv.Key), Observed: now}}
	u, err := etcdsync.DecodeApprovalUse(kv.Value)
	if err != nil {
		r.ev.Unverified = fmt.Sprintf("use counter value at revision %d is not a use record: %v", kv.ModRevision, err)
		return r, true
	}
	long := capClaims(&u)
	if a.pairedEvent(ctx, id, u.Event, kv.ModRevision) {
		return useRead{}, false
	}
	r.claimed = u.Time
	n := int(kv.Version - 1)
	r.ev.Details = map[string]string{"client": u.Client, "route": u.Route, "request_id": u.RequestID, "sidecar": u.Sidecar, "use": strconv.Itoa(n), DetailClaimed: claimedFields}
	if !u.Time.IsZero() {
		r.ev.Details["claimed_time"] = u.Time.UTC().Format(time.RFC3339Nano)
	}
	for k, v := range r.ev.Details {
		if v == "" {
			delete(r.ev.Details, k)
		}
	}
	ap, recRev, why := a.approvalAtRev(ctx, id, kv.ModRevision)
	if why == "" {
		r.decided, r.expires = ap.Decided, ap.Expires
		r.ev.Reason, r.ev.Ticket = ap.Reason, ap.Ticket
		r.ev.Details["use"] = strconv.Itoa(n) + "/" + strconv.Itoa(ap.MaxUses)
		r.ev.Details["max_uses"], r.ev.Details["requester"], r.ev.Details["approver"] = strconv.Itoa(ap.MaxUses), ap.Requester, ap.Approver
		why = cmp.Or(counterProblem(ap, recRev, kv.CreateRevision), useProblem(ap, u, n), a.grantEventProblem(ctx, ap, recRev))
	}
	r.ev.Unverified = cmp.Or(long, why)
	return r, true
}

// maxClaimBytes bounds each field of a use record readUse keeps: ids,
// names, routes and event keys are far shorter, and a sidecar's etcd user
// could otherwise make every approval.use event (and the collector's
// store entries) megabytes long.
const maxClaimBytes = 256

// capClaims truncates the fields of u longer than maxClaimBytes and says
// which it truncated, or "".
func capClaims(u *etcdsync.ApprovalUse) string {
	var long []string
	for _, f := range []struct {
		name string
		v    *string
	}{{"client", &u.Client}, {"route", &u.Route}, {"request_id", &u.RequestID}, {"sidecar", &u.Sidecar}, {"actor", &u.Actor}, {"etcd_user", &u.EtcdUser}, {"event", &u.Event}} {
		if len(*f.v) > maxClaimBytes {
			long = append(long, fmt.Sprintf("%s (%d bytes)", f.name, len(*f.v)))
			*f.v = strings.ToValidUTF8((*f.v)[:maxClaimBytes], "")
		}
	}
	if len(long) == 0 {
		return ""
	}
	return fmt.Sprintf("use record claims fields longer than %d bytes, truncated: %s", maxClaimBytes, strings.Join(long, ", "))
}

// pairedEvent reports whether key, which a CLI use names, is an
// approval.use event of approval id under events/ or events-by/ created
// at revision rev, the use's: the CLI wrote both in one transaction, and
// only an operator can write events.
func (a *Admin) pairedEvent(ctx context.Context, id, key string, rev int64) bool {
	if !a.k.IsEvent(key) {
		return false
	}
	resp, err := a.cli.Get(ctx, key, clientv3.WithRev(rev))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].CreateRevision != rev {
		return false
	}
	var ev Event
	return json.Unmarshal(resp.Kvs[0].Value, &ev) == nil && ev.Action == etcdsync.ActionApprovalUse && ev.Target == id
}

// grantEventProblem says why the grant ap, whose record was written at
// revision recRev, was not written by a grant (GrantApproval), or "": a
// grant writes its approval.grant event, keyed by the grant's decision
// time, in the same transaction. A record put "granted" straight into
// etcd (an operator granting their own request without the CLI) has
// none; the sidecars honour it, so its uses are flagged here. Events are
// never deleted, so the event is read as it is now, by its create
// revision.
func (a *Admin) grantEventProblem(ctx context.Context, ap etcdsync.Approval, recRev int64) string {
	if ap.State != etcdsync.ApprovalGranted {
		return "" // useProblem's
	}
	kvs, err := a.eventsAt(ctx, ap.Decided, recRev) // eventsby.go
	if err != nil {
		return fmt.Sprintf("cannot read the approval.grant event of approval %q: %v", ap.ID, err)
	}
	for _, kv := range kvs {
		var ev Event
		if kv.CreateRevision == recRev && json.Unmarshal(kv.Value, &ev) == nil && ev.Action == etcdsync.ActionApprovalGrant && ev.Target == ap.ID {
			a.bindEvent(string(kv.Key), &ev)
			req, why := a.requestOf(ctx, ap.ID, recRev)
			return cmp.Or(why, selfGrantProblem(ap, req, &ev))
		}
	}
	return fmt.Sprintf("grant of approval %q at revision %d was written without its approval.grant event (not by approvals grant: written to etcd directly)", ap.ID, recRev)
}

// selfGrantProblem says why the grant ap, written with the
// approval.grant event ev, is no second person's, or "": as grantable
// refuses it, its approver or who ran the grant (the event's actor) is
// its requester as SamePerson tells names apart, it names no requester,
// or it was written as the request's etcd user or another of the same
// person's (SameEtcdPerson), or either was written as
// an etcd user naming no person (SharedEtcdUser). The requester is the
// record's and the one its request wrote, req (requestOf): a grant
// written by hand could name another. approvals grant never writes such
// a grant; an operator writing etcd by hand, record and event in one
// transaction, does, and the sidecars honour it. Before, only the
// evidence pack flagged it (approvalSample.selfApproved); the follower
// stored the grant and its uses verified, as a second person's.
func selfGrantProblem(ap, req etcdsync.Approval, ev *Event) string {
	if ap.State != etcdsync.ApprovalGranted {
		return ""
	}
	user := eventUser(ev) // bound by its key or claimed: either is the same person's
	for _, r := range []etcdsync.Approval{req, ap} {
		switch {
		case visible(r.Requester) == "":
			return fmt.Sprintf("approval %q names no requester (%q): its grant cannot be told apart from one by its requester", ap.ID, r.Requester)
		case SamePerson(ap.Approver, r.Requester):
			return fmt.Sprintf("approval %q granted by its requester: approver %q, requester %q (no second person; approvals grant refuses it)", ap.ID, ap.Approver, r.Requester)
		case ev.Actor != "" && SamePerson(ev.Actor, r.Requester):
			return fmt.Sprintf("approval %q granted by its requester: the grant was run by %q, requester %q, naming approver %q (no second person; approvals grant refuses it)", ap.ID, ev.Actor, r.Requester, ap.Approver)
		case r.RequesterEtcdUser != "" && user == r.RequesterEtcdUser:
			return fmt.Sprintf("approval %q granted by its requester: written as etcd user %q, the request's (no second person; approvals grant refuses it)", ap.ID, user)
		case r.RequesterEtcdUser != "" && user != "" && SameEtcdPerson(user, r.RequesterEtcdUser):
			return fmt.Sprintf("approval %q granted by its requester: written as etcd user %q, the same person's as the request's %q (person+device; no second person; approvals grant refuses it)", ap.ID, user, r.RequesterEtcdUser)
		case SharedEtcdUser(r.RequesterEtcdUser) || SharedEtcdUser(user):
			return fmt.Sprintf("approval %q requested as etcd user %q and granted as %q, one a shared or program identity that names no person (no second person shown; approvals grant refuses it)", ap.ID, r.RequesterEtcdUser, user)
		}
	}
	return ""
}

// requestOf returns who asked for the approval id that its record holds
// at revision rev, as the approval.request event written with its
// creation says (Requester and RequesterEtcdUser set): a record
// rewritten since may name another requester. Events are never deleted
// (grantEventProblem), so this holds after etcd compacts the record's
// history of its request.
func (a *Admin) requestOf(ctx context.Context, id string, rev int64) (etcdsync.Approval, string) {
	resp, err := a.cli.Get(ctx, a.k.Approval(id), clientv3.WithRev(rev))
	if err != nil || len(resp.Kvs) != 1 {
		return etcdsync.Approval{}, fmt.Sprintf("cannot read approval %q at revision %d: %v", id, rev, err)
	}
	created := resp.Kvs[0].CreateRevision
	ap, err := etcdsync.DecodeApproval(resp.Kvs[0].Value)
	if err != nil {
		return ap, fmt.Sprintf("approval %q at revision %d: %v", id, rev, err)
	}
	kvs, err := a.eventsAt(ctx, ap.Requested, created) // eventsby.go
	if err != nil {
		return etcdsync.Approval{}, fmt.Sprintf("cannot read the approval.request event of approval %q: %v", id, err)
	}
	for _, kv := range kvs {
		var ev Event
		if kv.CreateRevision == created && json.Unmarshal(kv.Value, &ev) == nil && ev.Action == etcdsync.ActionApprovalRequest && ev.Target == id {
			a.bindEvent(string(kv.Key), &ev)
			return etcdsync.Approval{ID: id, Requester: ev.Details["requester"], RequesterEtcdUser: eventUser(&ev)}, ""
		}
	}
	return etcdsync.Approval{}, fmt.Sprintf("approval %q was created at revision %d without its approval.request event (not by approvals request: written to etcd directly)", id, created)
}

// approvalAtRev reads the approval id as it was at revision rev, with its
// mod revision then, or says why it cannot.
func (a *Admin) approvalAtRev(ctx context.Context, id string, rev int64) (etcdsync.Approval, int64, string) {
	resp, err := a.cli.Get(ctx, a.k.Approval(id), clientv3.WithRev(rev))
	if err != nil {
		return etcdsync.Approval{}, 0, fmt.Sprintf("cannot read approval %q at revision %d: %v", id, rev, err)
	}
	if len(resp.Kvs) == 0 {
		return etcdsync.Approval{}, 0, fmt.Sprintf("no approval %q at revision %d", id, rev)
	}
	ap, err := etcdsync.DecodeApproval(resp.Kvs[0].Value)
	if err != nil {
		return ap, 0, fmt.Sprintf("approval %q at revision %d: %v", id, rev, err)
	}
	return ap, resp.Kvs[0].ModRevision, ""
}

// counterProblem says why a counter created at create is not the one the
// grant ap, whose record was at mod revision recRev, created, or "".
func counterProblem(ap etcdsync.Approval, recRev, create int64) string {
	switch {
	case !ap.UsesCounter:
		return fmt.Sprintf("approval %q counts no uses on a counter", ap.ID)
	case create != recRev:
		return fmt.Sprintf("use counter of approval %q created at revision %d, not with its grant at %d", ap.ID, create, recRev)
	}
	return ""
}

// useProblem says why use n, u, was not one ap allowed, or "".
func useProblem(ap etcdsync.Approval, u etcdsync.ApprovalUse, n int) string {
	switch {
	case ap.State != etcdsync.ApprovalGranted:
		return fmt.Sprintf("approval %q was %s, not granted, when used", ap.ID, ap.State)
	case u.Client != ap.Client || u.Route != ap.Route:
		return fmt.Sprintf("use by %q on %q of approval %q granted for %q on %q", u.Client, u.Route, ap.ID, ap.Client, ap.Route)
	case n > ap.MaxUses:
		return fmt.Sprintf("use number %d of approval %q beyond its %d", n, ap.ID, ap.MaxUses)
	case u.Time.Before(ap.Decided.Add(-claimSkew)) || u.Time.After(ap.Expires.Add(claimSkew)):
		return fmt.Sprintf("use of approval %q claims time %s, outside its grant's window %s to %s", ap.ID, u.Time.UTC().Format(time.RFC3339), ap.Decided.UTC().Format(time.RFC3339), ap.Expires.UTC().Format(time.RFC3339))
	case u.Actor != "" || u.EtcdUser != "" || u.Event != "":
		return fmt.Sprintf("use of approval %q claims CLI actor %q, etcd user %q, without its approval.use event under events/ or events-by/<user>/ written in the same transaction", ap.ID, u.Actor, u.EtcdUser)
	}
	return ""
}

// counterVersions returns the versions of the counter kv (as read now)
// after revision from and from its creation on, oldest first, read from
// etcd's history with a watch, and a note when history before kv was
// compacted (then only kv itself is returned).
func (a *Admin) counterVersions(ctx context.Context, kv *mvccpb.KeyValue, from int64) ([]*mvccpb.KeyValue, string) {
	start := max(from+1, kv.CreateRevision+1)
	if kv.Version < 2 || start > kv.ModRevision {
		return nil, ""
	}
	if start == kv.ModRevision {
		return []*mvccpb.KeyValue{kv}, ""
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []*mvccpb.KeyValue
	for wr := range a.cli.Watch(wctx, string(kv.Key), clientv3.WithRev(start)) {
		if err := wr.Err(); err != nil {
			return []*mvccpb.KeyValue{kv}, fmt.Sprintf("earlier uses on this counter unread: history from revision %d: %v", start, err)
		}
		for _, e := range wr.Events {
			if e.Type == clientv3.EventTypePut && e.Kv.CreateRevision == kv.CreateRevision && e.Kv.ModRevision <= kv.ModRevision {
				out = append(out, e.Kv)
			}
			if e.Kv.ModRevision >= kv.ModRevision {
				return out, ""
			}
		}
	}
	return append(out, kv), fmt.Sprintf("earlier uses on this counter unread: %v", ctx.Err())
}

// listUses returns the approval.use events of the use counters in etcd
// (every version, from etcd's history) whose grant's window, decided to
// expires, meets [from, to) (zero times are open ends). Each is dated by
// the time its writer claims when that lies in the window, else by the
// grant's decision, and flagged (readUse); a use whose grant cannot be
// read is listed whatever the window.
func (a *Admin) listUses(ctx context.Context, from, to time.Time) ([]Event, error) {
	resp, err := a.cli.Get(ctx, a.k.ApprovalUsesDir(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cannot read approval uses under %q: %w", a.k.ApprovalUsesDir(), err)
	}
	var out []Event
	for _, kv := range resp.Kvs {
		if _, ok := a.k.ParseApprovalCounter(string(kv.Key)); !ok {
			continue // a slot of a held or spent use (etcdsync.Hold): the counter counts the use
		}
		kvs, note := a.counterVersions(ctx, kv, 0)
		for _, v := range kvs {
			r, ok := a.readUse(ctx, v)
			if !ok || !meets(r, from, to) {
				continue
			}
			r.ev.Time = r.claimed
			if (r.ev.Unverified != "" || r.claimed.IsZero()) && !r.decided.IsZero() {
				r.ev.Time = r.decided
			}
			if note != "" && v == kv {
				r.ev.Unverified = cmp.Or(r.ev.Unverified, note)
			}
			out = append(out, r.ev)
		}
	}
	return out, nil
}

// meets reports whether the grant window of r meets [from, to).
func meets(r useRead, from, to time.Time) bool {
	if r.decided.IsZero() {
		return true
	}
	return (from.IsZero() || !r.expires.Before(from)) && (to.IsZero() || r.decided.Before(to))
}
