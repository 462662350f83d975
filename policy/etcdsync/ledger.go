package etcdsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// LedgerConfig configures a Ledger.
type LedgerConfig struct {
	Prefix  string         // deployment prefix; "" means DefaultPrefix
	Pod     string         // the sidecar's name, recorded in each use record
	Timeout time.Duration  // bound on one Consume's etcd round trips; default 2s
	Logger  zerolog.Logger // the zero value discards
}

// Ledger is the sidecar's side of the approvals of issue 20: it keeps the
// approval records of the deployment and their use keys current from one
// watch (grants reach every sidecar as revocations do), and Consume counts
// one use of an approval across the deployment by creating its next use
// key (ApprovalUse) in an etcd transaction that requires the key to be new
// and the record's mod revision unchanged, so that an approval for
// max_uses requests admits exactly that many, whichever sidecars they
// reach, and nothing once it is denied or changed. The sidecar writes
// only under approval-uses/ (the etcd role of deploy/kubernetes allows
// no more); the collector turns each use key into an approval.use event.
//
// Consume fails closed: an unknown id, a record that does not decode, a
// lost race it cannot settle or an etcd error refuse the request. Ledger
// is safe for concurrent use; Run is called by one goroutine.
type Ledger struct {
	cli   *clientv3.Client
	k     Layout
	cfg   LedgerConfig
	state atomic.Pointer[ledgerState] // copy on write
	ready atomic.Bool
}

// ledgerState is what the ledger watched: the approval records and the
// use numbers taken of each.
type ledgerState struct {
	records map[string]ledgerEntry
	uses    map[string][]int
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
	l.state.Store(&ledgerState{records: map[string]ledgerEntry{}, uses: map[string][]int{}})
	return l
}

// Ready reports whether the ledger has read the approvals once.
func (l *Ledger) Ready() bool { return l.ready.Load() }

// Run lists the approval records and use keys and watches them until ctx
// ends, re-listing after a lost or compacted watch (backing off up to 5s).
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

// list reads every approval record and use key and returns the revision
// read at.
func (l *Ledger) list(ctx context.Context) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := l.cli.Get(rctx, l.k.ApprovalTree(), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("cannot read approvals under %q: %w", l.k.ApprovalTree(), err)
	}
	st := &ledgerState{records: make(map[string]ledgerEntry, len(resp.Kvs)), uses: map[string][]int{}}
	for _, kv := range resp.Kvs {
		st.put(l.k, kv)
	}
	l.state.Store(st)
	l.ready.Store(true)
	return resp.Header.Revision, nil
}

// watch applies the changes after rev until the watch breaks.
func (l *Ledger) watch(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range l.cli.Watch(wctx, l.k.ApprovalTree(), clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if resp.CompactRevision != 0 {
			return fmt.Errorf("approvals watch from revision %d compacted at %d", rev+1, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("approvals watch failed: %w", err)
		}
		l.apply(resp.Events)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("approvals watch channel closed")
}

// apply installs a copy of the state with evs applied.
func (l *Ledger) apply(evs []*clientv3.Event) {
	if len(evs) == 0 {
		return
	}
	cur := l.state.Load()
	st := &ledgerState{records: maps.Clone(cur.records), uses: maps.Clone(cur.uses)}
	for _, ev := range evs {
		if ev.Type == mvccpb.DELETE {
			st.remove(l.k, ev.Kv)
			continue
		}
		st.put(l.k, ev.Kv)
	}
	l.state.Store(st)
}

// put records kv, an approval record or a use key. A state shared with
// readers is never changed in place: slices are copied before they grow.
func (st *ledgerState) put(k Layout, kv *mvccpb.KeyValue) {
	key := string(kv.Key)
	if id, n, ok := k.ParseApprovalUse(key); ok {
		if !slices.Contains(st.uses[id], n) {
			st.uses[id] = append(slices.Clip(st.uses[id]), n)
		}
		return
	}
	if id, ok := strings.CutPrefix(key, k.ApprovalsDir()); ok {
		if cur, seen := st.records[id]; !seen || cur.rev < kv.ModRevision {
			st.records[id] = ledgerEntry{raw: kv.Value, rev: kv.ModRevision}
		}
	}
}

// remove forgets kv, an approval record or a use key that was deleted
// (its lease expired).
func (st *ledgerState) remove(k Layout, kv *mvccpb.KeyValue) {
	key := string(kv.Key)
	if id, n, ok := k.ParseApprovalUse(key); ok {
		st.uses[id] = slices.DeleteFunc(slices.Clone(st.uses[id]), func(m int) bool { return m == n })
		if len(st.uses[id]) == 0 {
			delete(st.uses, id)
		}
		return
	}
	if id, ok := strings.CutPrefix(key, k.ApprovalsDir()); ok {
		delete(st.records, id) // with its uses: no record, no use
		delete(st.uses, id)
	}
}

// consumeAttempts bounds the transactions of one Consume that lose a race
// with another sidecar's use of the same approval.
const consumeAttempts = 8

// Consume counts one use of the approval id by client on route (a
// policy.Route.RouteName) at now and reports whether it admits the
// request; requestID goes into the use record, which links the use to the
// request's audit record. The watched record and uses save a round trip:
// the transaction compares the record's mod revision and creates the next
// free use key and, when another use got there first, returns the current
// record and uses to decide on again. A record not watched yet (just
// granted), or one the watched copy refuses (the watch may lag a grant),
// is read from etcd before deciding.
func (l *Ledger) Consume(id []byte, client, route string, requestID []byte, now time.Time) bool {
	if !ValidApprovalID(id) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	st := l.state.Load()
	e, watched := st.records[string(id)]
	taken := st.uses[string(id)]
	fresh := false
	for range consumeAttempts {
		if !watched && !fresh {
			var ok bool
			if e, taken, ok = l.fetch(ctx, string(id)); !ok {
				return false
			}
			fresh = true
		}
		a, err := DecodeApproval(e.raw)
		next := 0
		if err == nil {
			a.Uses, next = a.Tally(taken)
		}
		if err != nil || a.ID != string(id) || a.Problem(client, route, now) != "" {
			if fresh {
				return false
			}
			watched = false // decide on the record in etcd
			continue
		}
		use := ApprovalUse{Client: client, Route: route, RequestID: string(requestID), Sidecar: l.cfg.Pod, Time: now.UTC()}
		var done, ok bool
		e, taken, done, ok = l.try(ctx, &a, e, next, use)
		if done {
			return ok
		}
		fresh = true
	}
	l.cfg.Logger.Warn().Str("approval", string(id)).Msg("approval use lost every race with other sidecars; refused")
	return false
}

// fetch reads the record of approval id and its use numbers from etcd, in
// one transaction so both are of one revision.
func (l *Ledger) fetch(ctx context.Context, id string) (ledgerEntry, []int, bool) {
	resp, err := l.cli.Txn(ctx).Then(l.readOps(id)...).Commit()
	if err != nil {
		return ledgerEntry{}, nil, false
	}
	return l.read(id, resp)
}

// readOps read the record of approval id and the keys of its uses.
func (l *Ledger) readOps(id string) []clientv3.Op {
	return []clientv3.Op{clientv3.OpGet(l.k.Approval(id)), clientv3.OpGet(l.k.ApprovalUses(id), clientv3.WithPrefix(), clientv3.WithKeysOnly())}
}

// read returns what readOps read in resp; ok is false when there is no
// record.
func (l *Ledger) read(id string, resp *clientv3.TxnResponse) (ledgerEntry, []int, bool) {
	rec := resp.Responses[0].GetResponseRange().Kvs
	if len(rec) == 0 {
		return ledgerEntry{}, nil, false
	}
	taken := UsesTaken(l.k, id, resp.Responses[1].GetResponseRange().Kvs)
	return ledgerEntry{raw: rec[0].Value, rev: rec[0].ModRevision}, taken, true
}

// try creates use n of a, decoded from e, if e is still the record in
// etcd and no other use took n. done reports a final answer ok; otherwise
// next and taken are the record and uses in etcd, to decide on again.
func (l *Ledger) try(ctx context.Context, a *Approval, e ledgerEntry, n int, use ApprovalUse) (next ledgerEntry, taken []int, done, ok bool) {
	cmps, put, err := UseWrite(l.k, a, e.rev, n, use)
	if err != nil {
		return e, nil, true, false
	}
	resp, err := l.cli.Txn(ctx).If(cmps...).Then(put).Else(l.readOps(a.ID)...).Commit()
	if err != nil {
		// Among others, the uses lease has expired: the grant has too.
		l.cfg.Logger.Warn().Err(err).Str("approval", a.ID).Msg("cannot count an approval use in etcd; refused")
		return e, nil, true, false
	}
	if resp.Succeeded {
		return e, nil, true, true
	}
	next, taken, found := l.read(a.ID, resp)
	if !found {
		return e, nil, true, false // expired or removed meanwhile
	}
	return next, taken, false, false
}
