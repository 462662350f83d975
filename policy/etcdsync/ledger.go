package etcdsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// LedgerConfig configures a Ledger.
type LedgerConfig struct {
	Prefix  string         // deployment prefix; "" means DefaultPrefix
	Pod     string         // the sidecar's name, recorded in each use event
	Timeout time.Duration  // bound on one Consume's etcd round trips; default 2s
	Logger  zerolog.Logger // the zero value discards
}

// Ledger is the sidecar's side of the approvals of issue 20: it keeps the
// approval records of the deployment current from a watch (grants reach
// every sidecar as revocations do), and Consume counts one use of an
// approval across the deployment with an etcd transaction that compares
// the record's mod revision, so that an approval for max_uses requests
// admits exactly that many, whichever sidecars they reach. Every counted
// use writes an approval.use lifecycle event in the same transaction.
//
// Consume fails closed: an unknown id, a record that does not decode, a
// lost race it cannot settle or an etcd error refuse the request. Ledger
// is safe for concurrent use; Run is called by one goroutine.
type Ledger struct {
	cli     *clientv3.Client
	k       Layout
	cfg     LedgerConfig
	records atomic.Pointer[map[string]ledgerEntry] // copy on write
	ready   atomic.Bool
}

// ledgerEntry is an approval record as watched, with its mod revision.
type ledgerEntry struct {
	raw []byte
	rev int64
}

// NewLedger returns a Ledger on cli; Run keeps it current.
func NewLedger(cli *clientv3.Client, cfg LedgerConfig) *Ledger {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	l := &Ledger{cli: cli, k: NewLayout(cfg.Prefix), cfg: cfg}
	l.records.Store(&map[string]ledgerEntry{})
	return l
}

// Ready reports whether the ledger has read the approvals once.
func (l *Ledger) Ready() bool { return l.ready.Load() }

// Run lists the approval records and watches them until ctx ends,
// re-listing after a lost or compacted watch (backing off up to 5s).
func (l *Ledger) Run(ctx context.Context) error {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := l.list(ctx)
		if err == nil {
			wait = 100 * time.Millisecond
			err = l.watch(ctx, rev)
		}
		if ctx.Err() != nil {
			break
		}
		l.cfg.Logger.Warn().Err(err).Msg("approvals watch lost; re-reading the approvals")
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	return nil
}

// list reads every approval record and returns the revision read at.
func (l *Ledger) list(ctx context.Context) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := l.cli.Get(rctx, l.k.ApprovalsDir(), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("cannot read approvals under %q: %w", l.k.ApprovalsDir(), err)
	}
	m := make(map[string]ledgerEntry, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m[string(kv.Key[len(l.k.ApprovalsDir()):])] = ledgerEntry{raw: kv.Value, rev: kv.ModRevision}
	}
	l.records.Store(&m)
	l.ready.Store(true)
	return resp.Header.Revision, nil
}

// watch applies the changes after rev until the watch breaks.
func (l *Ledger) watch(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	dir := l.k.ApprovalsDir()
	for resp := range l.cli.Watch(wctx, dir, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if resp.CompactRevision != 0 {
			return fmt.Errorf("approvals watch from revision %d compacted at %d", rev+1, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("approvals watch failed: %w", err)
		}
		l.apply(dir, resp.Events)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("approvals watch channel closed")
}

// apply installs a copy of the records with evs applied.
func (l *Ledger) apply(dir string, evs []*clientv3.Event) {
	if len(evs) == 0 {
		return
	}
	m := maps.Clone(*l.records.Load())
	for _, ev := range evs {
		id := string(ev.Kv.Key[len(dir):])
		if ev.Type == mvccpb.DELETE {
			delete(m, id)
			continue
		}
		if cur, ok := m[id]; !ok || cur.rev < ev.Kv.ModRevision {
			m[id] = ledgerEntry{raw: ev.Kv.Value, rev: ev.Kv.ModRevision}
		}
	}
	l.records.Store(&m)
}

// consumeAttempts bounds the transactions of one Consume that lose a race
// with another sidecar's use of the same approval.
const consumeAttempts = 8

// Consume counts one use of the approval id by client on route (a
// policy.Route.RouteName) at now and reports whether it admits the
// request; requestID goes into the approval.use event, which links the
// use to the request's audit record. The watched record saves a round
// trip: the transaction compares its mod revision and, when another use
// got there first, returns the current record to decide on again. A
// record not watched yet (just granted), or one the watched copy refuses
// (the watch may lag a grant), is read from etcd before deciding.
func (l *Ledger) Consume(id []byte, client, route string, requestID []byte, now time.Time) bool {
	if !ValidApprovalID(id) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	key := l.k.Approval(string(id))
	e, watched := (*l.records.Load())[string(id)]
	fresh := false
	for range consumeAttempts {
		if !watched && !fresh {
			var ok bool
			if e, ok = l.fetch(ctx, key); !ok {
				return false
			}
			fresh = true
		}
		a, err := DecodeApproval(e.raw)
		if err != nil || a.Problem(client, route, now) != "" {
			if fresh {
				return false
			}
			watched = false // decide on the record in etcd
			continue
		}
		next, done, ok := l.try(ctx, key, e, a, requestID, now)
		if done {
			return ok
		}
		e, fresh = next, true
	}
	l.cfg.Logger.Warn().Str("approval", string(id)).Msg("approval use lost every race with other sidecars; refused")
	return false
}

// fetch reads the record at key from etcd.
func (l *Ledger) fetch(ctx context.Context, key string) (ledgerEntry, bool) {
	resp, err := l.cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return ledgerEntry{}, false
	}
	return ledgerEntry{raw: resp.Kvs[0].Value, rev: resp.Kvs[0].ModRevision}, true
}

// try writes one use of a, decoded from e, if e is still the record in
// etcd. done reports a final answer ok; otherwise next is the record
// another writer put first, to decide on again.
func (l *Ledger) try(ctx context.Context, key string, e ledgerEntry, a Approval, requestID []byte, now time.Time) (next ledgerEntry, done, ok bool) {
	ops, err := l.useOps(key, a, requestID, now)
	if err != nil {
		return e, true, false
	}
	resp, err := l.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", e.rev)).
		Then(ops...).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		l.cfg.Logger.Warn().Err(err).Str("approval", a.ID).Msg("cannot count an approval use in etcd; refused")
		return e, true, false
	}
	if resp.Succeeded {
		return e, true, true
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return e, true, false // expired or removed meanwhile
	}
	return ledgerEntry{raw: kvs[0].Value, rev: kvs[0].ModRevision}, false, false
}

// useEvent is an approval.use lifecycle event, in the shape of the
// events etcdadmin writes (etcdadmin.Event).
type useEvent struct {
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Target  string            `json:"target"`
	Reason  string            `json:"reason,omitempty"`
	Ticket  string            `json:"ticket,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// useOps returns the writes of one use of a at now: the record with its
// use counted (on the grant's lease) and its approval.use event.
func (l *Ledger) useOps(key string, a Approval, requestID []byte, now time.Time) ([]clientv3.Op, error) {
	a.Uses++
	a.LastUse = now.UTC()
	rec, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("cannot encode approval %q: %w", a.ID, err)
	}
	evKey, err := l.k.Event(now)
	if err != nil {
		return nil, err
	}
	ev, err := json.Marshal(useEvent{
		Time: now.UTC(), Actor: a.Client, Action: ActionApprovalUse, Target: a.ID, Reason: a.Reason, Ticket: a.Ticket,
		Details: map[string]string{"client": a.Client, "route": a.Route, "use": strconv.Itoa(a.Uses) + "/" + strconv.Itoa(a.MaxUses),
			"request_id": string(requestID), "sidecar": l.cfg.Pod, "approver": a.Approver, "requester": a.Requester},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot encode approval.use event for %q: %w", a.ID, err)
	}
	return []clientv3.Op{clientv3.OpPut(key, string(rec), clientv3.WithIgnoreLease()), clientv3.OpPut(evKey, string(ev))}, nil
}
