package etcdadmin

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// recordKind is a kind of record the CLI writes only with its event in
// the same transaction (recorded).
type recordKind int

const (
	notRecorded recordKind = iota
	policyRecord
	historyRecord
	keyRecord
	approvalRecord
)

// recorded returns the kind of key, and the id its event names, when key
// is a record every CLI writer puts with its event in one transaction:
// the policy and its history entry (PushPolicy, with policy.push), a key
// record (CreateKey with key.create, RotateKey with key.rotate for both
// records), an approval record (RequestApproval, GrantApproval,
// DenyApproval, each with its event). Nothing in the CLI deletes one but
// a granted approval's lease, at its expiry. A sidecar writes none of
// them: members/, demand/, resumed/ and approval-uses/ are its own.
func (a *Admin) recorded(key string) (recordKind, string) {
	if key == a.k.Policy() {
		return policyRecord, key
	}
	for _, p := range [...]struct {
		dir  string
		kind recordKind
	}{{a.k.HistoryDir(), historyRecord}, {a.k.KeysDir(), keyRecord}, {a.k.ApprovalsDir(), approvalRecord}} {
		if id, ok := strings.CutPrefix(key, p.dir); ok {
			return p.kind, id
		}
	}
	return notRecorded, ""
}

// judged reports whether FollowEvents judges a change of key against the
// events of its revision: a revocation or a suspension (guarded), or a
// record the CLI writes only with its event (recorded).
func (a *Admin) judged(key string) bool {
	k, _ := a.recorded(key)
	return a.guarded(key) || k != notRecorded
}

// judge returns the flagged event of e, a change of a key judged, when
// none of evs (the events of its revision, at least) speaks for it; q
// answers the lease questions of a delete (nil only for puts).
func (a *Admin) judge(e *clientv3.Event, evs []Event, q *leaseAsk) (Event, bool) {
	if a.guarded(string(e.Kv.Key)) {
		return a.unattributed(e, evs, q) // guarded.go
	}
	return a.handWritten(e, evs, q)
}

// handWritten returns the flagged event of e, a put or delete of a
// record (recorded), when no event of evs at its revision speaks for it:
// written by hand with the operator's etcd role. A policy put by hand
// made a privileged client ordinary for a keys rotate with no approval,
// and was put back after, with nothing in the trail; a key record put by
// hand was a credential no event named. The event names the record (a
// key id, an approval id, the policy key, a history entry's revision)
// and the etcd revisions; its details never hold the record's value (a
// key record's SHA-256 reaches no event), which is decoded only to
// compare it with what its event speaks for (an old key's rewrite by a
// rotation, an approval's decision) and for an approval record's expiry
// when its lease took it.
func (a *Admin) handWritten(e *clientv3.Event, evs []Event, q *leaseAsk) (Event, bool) {
	key, rev := string(e.Kv.Key), e.Kv.ModRevision
	kind, id := a.recorded(key)
	put := e.Type == clientv3.EventTypePut
	if put && a.spokenFor(kind, id, e, evs) {
		return Event{}, false
	}
	lease := leaseHeld
	if !put && kind == approvalRecord && leaseEnded(e.PrevKv, a.now()) {
		if lease = q.held(e.PrevKv.Lease); lease == leaseGone {
			return Event{}, false
		}
	}
	now := a.now().UTC()
	ev := Event{Time: now, Observed: now, Target: id, Key: key, Revision: rev, Details: map[string]string{}}
	names := handNames[kind]
	ev.Action = names.deleted
	if put {
		ev.Action = names.written
		ev.Details["created_revision"] = strconv.FormatInt(e.Kv.CreateRevision, 10)
		ev.Unverified = fmt.Sprintf("%s %q written at etcd revision %d with no %s event in its transaction (written by hand, no event)", names.what, id, rev, names.events)
		return ev, true
	}
	if prev := e.PrevKv; prev != nil {
		ev.Details["created_revision"] = strconv.FormatInt(prev.CreateRevision, 10)
		ev.Details["last_written_revision"] = strconv.FormatInt(prev.ModRevision, 10)
	}
	ev.Unverified = fmt.Sprintf("%s %q deleted at etcd revision %d (deleted by hand, no event: no command deletes one)", names.what, id, rev)
	if kind == approvalRecord {
		ev.Unverified = fmt.Sprintf("%s %q deleted at etcd revision %d before its grant's expiry, on no lease, or with its lease still held (deleted by hand, no event)", names.what, id, rev)
	}
	if lease == leaseUnknown {
		ap, _ := etcdsync.DecodeApproval(e.PrevKv.Value) // leaseEnded decoded it
		ev.Unverified = uncheckedFlag(ev.Details, fmt.Sprintf("%s %q", names.what, id), rev, ap.Expires)
	}
	return ev, true
}

// handNames are the actions and words of handWritten's events, by kind.
var handNames = map[recordKind]struct{ written, deleted, what, events string }{
	policyRecord:   {ActionPolicyWritten, ActionPolicyDeleted, "policy", ActionPolicyPush},
	historyRecord:  {ActionHistoryWritten, ActionHistoryDeleted, "policy history entry", ActionPolicyPush},
	keyRecord:      {ActionKeyWritten, ActionKeyDeleted, "key record", ActionKeyCreate + " or " + ActionKeyRotate},
	approvalRecord: {ActionApprovalWritten, ActionApprovalDeleted, "approval record", "approval request, grant or deny"},
}

// spokenFor reports whether an event of evs at the revision of e, the
// put of a record of kind named id, speaks for it: the policy its
// policy.push, and a history entry the entry a push creates (pushEntry;
// an older entry rewritten, or one numbered otherwise, beside a push is
// not its); a key record its key.create, which creates it (a key
// rewritten with one beside it was not created by it), or its
// key.rotate: the new one by its new_key, created, the old one by
// target, changed as a rotation changes it (rotatedOld); an approval
// record its request, which creates it (a denied record put back as
// pending beside one was not made by it), its grant or deny, the record
// in the state decided with nothing else changed (decidedAs); never an
// approval.use. Read with no values (e.Kv keys only, no previous value:
// catchUpCompacted), the values are not compared.
func (a *Admin) spokenFor(kind recordKind, id string, e *clientv3.Event, evs []Event) bool {
	kv := e.Kv
	rev := kv.ModRevision
	for i := range evs {
		ev := &evs[i]
		if ev.Revision != rev {
			continue
		}
		switch kind {
		case policyRecord:
			if ev.Action == ActionPolicyPush && ev.Target == id {
				return true
			}
		case historyRecord:
			if ev.Action == ActionPolicyPush && pushEntry(id, kv, ev) {
				return true
			}
		case keyRecord:
			switch {
			case ev.Action == ActionKeyCreate && ev.Target == id && kv.CreateRevision == rev,
				ev.Action == ActionKeyRotate && ev.Details["new_key"] == id && kv.CreateRevision == rev,
				ev.Action == ActionKeyRotate && ev.Target == id && rotatedOld(e):
				return true
			}
		case approvalRecord:
			switch ev.Action {
			case etcdsync.ActionApprovalRequest:
				if ev.Target == id && kv.CreateRevision == rev {
					return true // a request creates its record, never rewrites one
				}
			case etcdsync.ActionApprovalGrant, etcdsync.ActionApprovalDeny:
				if ev.Target == id && decidedAs(e, ev, a.now()) {
					return true
				}
			}
			// An approval.use speaks for no record: the CLI writes a use
			// with the put of the approval's counter (approvalUse). The
			// CLIs before the counter rewrote the record's uses, and
			// a use event spoke for a rewrite into any state.
		}
	}
	return false
}

// pushEntry reports whether kv, the put of the history entry named id,
// is the entry the push ev writes in its transaction: one it creates,
// numbered the revision the push read plus one (PushPolicy; its event's
// read_revision), a revision at or after the policy's previous one
// (previous_revision) and before the push's own. An event of an older
// CLI, with no read_revision, speaks for an entry numbered after
// previous_revision and no higher than its revision. An entry rewritten
// (an older push's document replaced), or numbered between older pushes
// or past the push, is not.
func pushEntry(id string, kv *mvccpb.KeyValue, ev *Event) bool {
	n, err := strconv.ParseInt(id, 10, 64)
	prev, perr := strconv.ParseInt(ev.Details["previous_revision"], 10, 64)
	if err != nil || perr != nil || kv.CreateRevision != kv.ModRevision || n <= prev || n > kv.ModRevision {
		return false
	}
	read, ok := ev.Details["read_revision"]
	return !ok || read == strconv.FormatInt(n-1, 10)
}

// rotatedOld reports whether e, a put of a key record under a key.rotate
// naming it as the old key, changes nothing but what RotateKey changes:
// its not_after, set to the overlap's end, never later than it was. The
// values are compared here, never put into an event (the SHA-256 reaches
// none). A record created there is not rewritten: false. With no
// values read (catchUpCompacted: keys only, no previous value) it
// reports true.
func rotatedOld(e *clientv3.Event) bool {
	switch {
	case e.Kv.CreateRevision == e.Kv.ModRevision:
		return false // a rotation rewrites the old record, never creates it
	case e.PrevKv == nil:
		return len(e.Kv.Value) == 0 // keys only: the values are not read
	}
	var was, is policy.KeySpec
	if json.Unmarshal(e.PrevKv.Value, &was) != nil || json.Unmarshal(e.Kv.Value, &is) != nil {
		return false
	}
	if is.NotAfter != was.NotAfter && !endedSooner(was.NotAfter, is.NotAfter) {
		return false // cleared or moved later: no rotation does
	}
	is.NotAfter = was.NotAfter
	return is == was
}

// endedSooner reports whether the not_after is, set by a rotation over
// was, is a time no later than was (any time when was is none).
func endedSooner(was, is string) bool {
	end, err := time.Parse(time.RFC3339, is)
	if err != nil {
		return false
	}
	before, err := time.Parse(time.RFC3339, was)
	return err != nil || !end.After(before)
}

// decidedAs reports whether e, the put of an approval record with ev,
// an approval.grant or approval.deny, rewrote it into the state ev
// decided, by the approver ev names (granted, or denied), changing
// nothing else of the record it replaced but the decision's own fields
// (grantedOnly, deniedOnly; e.PrevKv, as rotatedOld reads it), and
// decided no later than now, when the follower reads it (a minute's
// leeway for the clocks): a grant postdated admits requests from a time
// no second person chose. A decision rewrites its record, never creates
// one. Read with no value (catchUpCompacted: keys only), it reports true.
func decidedAs(e *clientv3.Event, ev *Event, now time.Time) bool {
	switch {
	case e.Kv.CreateRevision == e.Kv.ModRevision:
		return false
	case e.PrevKv == nil:
		return len(e.Kv.Value) == 0 // keys only: the values are not read
	}
	ap, err := etcdsync.DecodeApproval(e.Kv.Value)
	was, werr := etcdsync.DecodeApproval(e.PrevKv.Value)
	if err != nil || werr != nil || ap.Approver != ev.Details["approver"] || ap.Decided.After(now.Add(claimSkew)) {
		return false
	}
	if ev.Action == etcdsync.ActionApprovalDeny {
		return ap.State == etcdsync.ApprovalDenied && deniedOnly(was, ap, e.PrevKv.ModRevision)
	}
	return ap.State == etcdsync.ApprovalGranted && ap.Approver != "" && grantedOnly(was, ap)
}

// leaseEnded reports whether prev, an approval record before its delete,
// may have been taken by its lease: on one, decided with an expiry at or
// before now (a minute's leeway for the clocks). A grant's record lives
// on a lease of its max_age, and a denial of it keeps that lease.
func leaseEnded(prev *mvccpb.KeyValue, now time.Time) bool {
	if prev == nil || prev.Lease == 0 {
		return false
	}
	ap, err := etcdsync.DecodeApproval(prev.Value)
	if err != nil || ap.Expires.IsZero() {
		return false
	}
	return !now.Before(ap.Expires.Add(-claimSkew))
}
