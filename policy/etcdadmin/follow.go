package etcdadmin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// FollowEvents calls fn with every lifecycle event written after revision
// from, oldest first, as they happen, until ctx ends or fn fails. It starts
// with the events already stored (so a collector that was down catches up)
// and then watches. fn gets each event with its etcd revision; a caller
// that records the last revision it stored can resume from it without
// duplicates.
//
// The events are the keys under events/ and the versions of the approval
// use counters under approval-uses/, each an approval.use event (readUse):
// a sidecar may write the latter and not the former. One read and one
// watch of the key range from approval-uses/ to the end of events/ see
// both in revision order, which resuming from a revision needs (a counter
// the read finds changed since from has its versions since from read
// from etcd's history); the other keys in that range (approvals/, audit/,
// demand/: a few writes a second) are skipped.
func (a *Admin) FollowEvents(ctx context.Context, from int64, fn func([]Event) error) error {
	start, end := a.k.ApprovalUsesDir(), clientv3.GetPrefixRangeEnd(a.k.EventsDir())
	resp, err := a.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithMinModRev(from+1), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	if err != nil {
		return fmt.Errorf("cannot read events under %q and %q: %w", a.k.EventsDir(), start, err)
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
	slices.SortStableFunc(batch, func(x, y Event) int { return cmp.Compare(x.Revision, y.Revision) })
	if err := emit(batch, fn); err != nil {
		return err
	}
	wc := a.cli.Watch(clientv3.WithRequireLeader(ctx), start, clientv3.WithRange(end), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wc {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watching events under %q and %q: %w", a.k.EventsDir(), start, err)
		}
		batch = batch[:0]
		for _, e := range wr.Events {
			if e.Type != clientv3.EventTypePut {
				continue
			}
			if ev, ok := a.followed(ctx, e.Kv); ok {
				batch = append(batch, ev)
			}
		}
		if err := emit(batch, fn); err != nil {
			return err
		}
	}
	return ctx.Err()
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
	case strings.HasPrefix(key, a.k.EventsDir()):
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
// trail shows what was written under events/.
func (a *Admin) readEvent(ctx context.Context, kv *mvccpb.KeyValue) Event {
	var ev Event
	err := json.Unmarshal(kv.Value, &ev)
	ev.Revision, ev.Key, ev.Observed = kv.ModRevision, string(kv.Key), a.now().UTC()
	switch {
	case err != nil:
		ev.Action, ev.Unverified = "unknown", fmt.Sprintf("value is not an event: %v", err)
	case kv.CreateRevision != kv.ModRevision:
		ev.Unverified = fmt.Sprintf("event key rewritten at revision %d after its creation at %d", kv.ModRevision, kv.CreateRevision)
	default:
		ev.Unverified = a.verifyChange(ctx, &ev)
	}
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
		return a.putAt(ctx, a.k.Policy(), ev.Revision)
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
	case etcdsync.ActionApprovalUse:
		// The CLI writes a use with the put of the approval's counter;
		// before the counter, with a rewrite of its record.
		if a.putAt(ctx, a.k.ApprovalCounter(ev.Target), ev.Revision) == "" {
			return ""
		}
		return a.putAt(ctx, a.k.Approval(ev.Target), ev.Revision)
	case etcdsync.ActionApprovalRequest, etcdsync.ActionApprovalGrant, etcdsync.ActionApprovalDeny:
		return a.putAt(ctx, a.k.Approval(ev.Target), ev.Revision)
	}
	return fmt.Sprintf("unknown action %q", ev.Action)
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
