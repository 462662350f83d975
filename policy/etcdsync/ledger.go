package etcdsync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// LedgerConfig configures a Ledger.
type LedgerConfig struct {
	Prefix  string        // deployment prefix; "" means DefaultPrefix
	Pod     string        // the sidecar's name, recorded in each use record
	Timeout time.Duration // bound on the etcd round trips of one Reserve, Commit or Release; default 2s
	// HoldTTL is how long a use Reserve holds stays held without Commit
	// (the lease of its slot): the longest wait between the two, and how
	// long the use of a sidecar that died holding it stays out of reach.
	// Default DefaultHoldTTL.
	HoldTTL time.Duration
	// Confirm is how often a linearizable read checks that etcd has not
	// gone back below the revision watched (restored or replaced
	// cluster); default 5s.
	Confirm time.Duration
	Logger  zerolog.Logger // the zero value discards
}

// Ledger is the sidecar's side of the approvals of issue 20: it keeps the
// approval records of the deployment and their use counters current from
// one watch (grants reach every sidecar as revocations do). Reserve holds
// one use of an approval for a request (hold.go) and the hold's Commit
// counts it across the deployment by putting its counter (ApprovalUse,
// UseWrite) in an etcd transaction that requires the record's mod
// revision unchanged and the counter the grant's, at the version read, so
// that an approval for max_uses requests admits at most that many,
// whichever sidecars they reach, and nothing once it is denied or changed
// or its counter deleted; Release gives a use held back. The sidecar writes only under
// approval-uses/ (the etcd role of deploy/kubernetes allows no more); the
// collector turns each version of a counter into an approval.use event.
//
// Reserve and Commit fail closed: an unknown id, a record that does not
// decode, a lost race it cannot settle or an etcd error refuse the
// request. Ledger
// is safe for concurrent use; Run is called by one goroutine.
type Ledger struct {
	cli   *clientv3.Client
	k     Layout
	cfg   LedgerConfig
	state atomic.Pointer[ledgerState] // copy on write
	// mu serialises the writers of state: Run's (apply, list) and a
	// Reserve or Commit that finds uses etcd lost (lostFound).
	mu    sync.Mutex
	ready atomic.Bool
	back  rewindGuard // Run's; finds etcd gone back below the revision watched
	// releases are the revocations of spent holds' leases Commit starts
	// off the request path; Wait waits for them.
	releases sync.WaitGroup
	// queued counts the watch responses of approvals Run received, and
	// clones and copied the copies apply made of the state and their
	// entries (TestLedgerAppliesWaitingResponsesInOneCopy).
	queued, clones, copied atomic.Int64
}

// ledgerState is what the ledger watched: the approval records and their
// use counters, and the uses etcd lost going back.
type ledgerState struct {
	records  layered[ledgerEntry] // ledger_layers.go: an apply copies a share
	counters layered[Counter]
	lost     map[string]lostUses // never changed once stored: list makes a new one
}

// lostUses are the uses of an approval's counter (the one created at
// create) that etcd lost when it went back in revision: a restored backup
// that predates them gives the counter its old version back, and each use
// would be spent again. Reserve and Commit count them as spent.
type lostUses struct {
	create, n int64
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
	if cfg.Confirm <= 0 {
		cfg.Confirm = 5 * time.Second
	}
	if cfg.HoldTTL <= 0 {
		cfg.HoldTTL = DefaultHoldTTL
	}
	l := &Ledger{cli: cli, k: NewLayout(cfg.Prefix), cfg: cfg}
	l.state.Store(&ledgerState{records: layeredOf(map[string]ledgerEntry{}), counters: layeredOf(map[string]Counter{})})
	return l
}

// Wait waits for the revocations of spent holds' leases that Commit
// started: called at shutdown before the etcd client is closed, so that
// none is cut off by the close and left to linger for HoldTTL, logging a
// warning after the sidecar said it stopped
// (TestWaitWaitsForCommitsReleases).
func (l *Ledger) Wait() { l.releases.Wait() }

// Ready reports whether the ledger has read the approvals once.
func (l *Ledger) Ready() bool { return l.ready.Load() }

// Run lists the approval records and use counters and watches them until ctx
// ends, re-listing after a lost or compacted watch (backing off up to 5s).
// etcd found below the revision watched (restored from a backup, or a new
// cluster; see rewindGuard) is a lost watch too, re-listed at once,
// counted (Rewinds) and logged once: the client would resume the watch at
// the revision it had reached, and no grant written since would arrive.
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
		if wb, ok := errors.AsType[*wentBack](err); ok {
			l.back.rewinds.Add(1)
			l.cfg.Logger.Warn().Int64("was", wb.was).Int64("now", wb.now).Msg(wb.Error() + " (restored or replaced cluster?); re-reading the approvals and watching from etcd's revision")
			continue
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

// list reads every approval record and use counter and returns the revision
// read at.
func (l *Ledger) list(ctx context.Context) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := l.cli.Get(rctx, l.k.ApprovalTree(), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("cannot read approvals under %q: %w", l.k.ApprovalTree(), err)
	}
	st := &ledgerState{records: layeredOf(make(map[string]ledgerEntry, len(resp.Kvs))), counters: layeredOf(map[string]Counter{})}
	for _, kv := range resp.Kvs {
		st.put(l.k, kv)
	}
	for id := range st.counters.all() {
		st.prune(id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lost := st.keepLost(l.state.Load()); len(lost) > 0 {
		slices.Sort(lost)
		l.cfg.Logger.Error().Strs("approvals", lost).Msg("etcd went back in revision and lost uses of approvals: this sidecar counts them as spent; an approval that needs more uses must be granted again")
	}
	l.state.Store(st)
	l.ready.Store(true)
	l.back.reset(resp.Header.Revision, resp.Header.ClusterId)
	return resp.Header.Revision, nil
}

// Rewinds returns how many times etcd was found below the revision the
// ledger had watched, and the approvals were read again.
func (l *Ledger) Rewinds() int64 { return l.back.rewinds.Load() }

// watch applies the changes after rev until the watch breaks, or a check
// finds etcd gone back below the revision watched (a *wentBack). The
// responses are received here and queued for an applier goroutine
// (applyQueued), which applies every response waiting in one copy of the
// state: N approvals put one transaction at a time while an apply copies
// cost O(N) copies of the state, not one each, O(N²) entries
// (TestLedgerAppliesWaitingResponsesInOneCopy). A response arriving alone
// is applied at once, as before.
func (l *Ledger) watch(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	q := &ledgerQueue{wake: make(chan struct{}, 1)}
	stop := make(chan struct{})
	var applier sync.WaitGroup
	applier.Go(func() { l.applyQueued(q, stop) })
	// What was received is applied before a re-list, as when it was
	// applied on receipt: list's keepLost compares the counters read
	// with those watched.
	defer func() { close(stop); applier.Wait() }()
	wch := l.cli.Watch(wctx, l.k.ApprovalTree(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	tick := time.NewTicker(l.cfg.Confirm)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := l.back.check(ctx, l.cli, l.k.ApprovalTree()); err != nil {
				return err
			}
		case resp, ok := <-wch:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errors.New("approvals watch channel closed")
			}
			if resp.CompactRevision != 0 {
				return fmt.Errorf("approvals watch from revision %d compacted at %d", rev+1, resp.CompactRevision)
			}
			if err := resp.Err(); err != nil {
				return fmt.Errorf("approvals watch failed: %w", err)
			}
			if err := l.back.answered(resp.Header.Revision, resp.Header.ClusterId); err != nil {
				return err
			}
			// Events of slots alone (hold.go), which the state does not
			// hold, wake nothing.
			if slices.ContainsFunc(resp.Events, l.watched) {
				q.push(resp.Events)
				l.queued.Add(1)
			}
		}
	}
}

// ledgerQueue holds the watch responses received and not yet applied.
type ledgerQueue struct {
	mu    sync.Mutex
	resps [][]*clientv3.Event
	wake  chan struct{} // capacity 1: a response is waiting
}

// push queues the events of one response and wakes the applier.
func (q *ledgerQueue) push(evs []*clientv3.Event) {
	q.mu.Lock()
	q.resps = append(q.resps, evs)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes the events of at most maxTaken waiting responses, in
// order, and reports whether more wait.
func (q *ledgerQueue) take() (evs []*clientv3.Event, more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.resps), maxTaken)
	evs = slices.Concat(q.resps[:n]...)
	clear(q.resps[:n])
	q.resps = q.resps[n:]
	if len(q.resps) == 0 {
		q.resps = nil
	}
	return evs, len(q.resps) > 0
}

// applyQueued applies the responses q holds until stop is closed, then
// those still waiting.
func (l *Ledger) applyQueued(q *ledgerQueue, stop <-chan struct{}) {
	for {
		select {
		case <-q.wake:
			l.applyWaiting(q)
		case <-stop:
			l.applyWaiting(q)
			return
		}
	}
}

// applyWaiting applies the responses q holds: all those waiting in one
// apply, at most maxTaken at once so that a steady stream of changes does
// not hold back those already taken.
func (l *Ledger) applyWaiting(q *ledgerQueue) {
	for more := true; more; {
		var evs []*clientv3.Event
		evs, more = q.take()
		l.apply(evs)
	}
}

// apply installs a copy of the state with evs applied. Events of slots
// alone (hold.go), which the state does not hold, copy nothing.
func (l *Ledger) apply(evs []*clientv3.Event) {
	if !slices.ContainsFunc(evs, l.watched) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.state.Load()
	records, nr := cur.records.next()
	counters, nc := cur.counters.next()
	l.clones.Add(1)
	l.copied.Add(int64(nr + nc))
	st := &ledgerState{records: records, counters: counters, lost: cur.lost}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		if ev.Type == mvccpb.DELETE {
			ids[i] = st.remove(l.k, ev.Kv)
		} else {
			ids[i] = st.put(l.k, ev.Kv)
		}
	}
	// After every event: a grant's record and counter come in one
	// response, in either order. No other id held a counter without its
	// record before.
	for _, id := range ids {
		st.prune(id)
	}
	l.state.Store(st)
}

// watched reports whether ev is of what the state holds: an approval
// record or a use counter.
func (l *Ledger) watched(ev *clientv3.Event) bool {
	key := string(ev.Kv.Key)
	_, counter := l.k.ParseApprovalCounter(key)
	return counter || strings.HasPrefix(key, l.k.ApprovalsDir())
}

// keepLost sets st.lost, st being read whole after old: the uses old lost
// before that are still of the counters st has, and the uses by which a
// counter of st, the same counter as in old (its create revision), is
// behind old's. A counter's version never goes back in one etcd history,
// so that is etcd restored from a backup that predates those uses. It
// returns the approvals that lost uses now.
func (st *ledgerState) keepLost(old *ledgerState) []string {
	var ids []string
	for id, oc := range old.counters.all() {
		nc, ok := st.counters.get(id)
		if ok && nc.Create == oc.Create && nc.Version < oc.Version {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 && len(old.lost) == 0 {
		return nil
	}
	st.lost = map[string]lostUses{}
	for id, lu := range old.lost {
		if c, ok := st.counters.get(id); ok && c.Create == lu.create {
			st.lost[id] = lu // another grant (another counter) or none: nothing to count
		}
	}
	for _, id := range ids {
		oc, _ := old.counters.get(id)
		nc, _ := st.counters.get(id)
		lu := st.lost[id]
		lu.create, lu.n = oc.Create, lu.n+oc.Version-nc.Version
		st.lost[id] = lu
	}
	return ids
}

// lostFound counts as lost the uses by which c, the counter of approval
// id read from etcd, is behind the one watched (the same counter: its
// create revision), as list's keepLost does, and returns the state that
// holds them. A counter's version never goes back in one etcd history:
// etcd was restored from a backup that predates those uses, and the
// ledger's check (every Confirm) has not found it yet; a use decided
// meanwhile on etcd's counter alone spent them again
// (TestLedgerKeepsUsesLostBeforeTheCheck). The watched counter becomes c,
// so the uses spent on it from now on are not counted twice.
func (l *Ledger) lostFound(id string, c Counter) *ledgerState {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.state.Load()
	wc, ok := cur.counters.get(id)
	if !ok || wc.Create != c.Create || c.Version >= wc.Version {
		return cur // found meanwhile, by list or another Reserve or Commit
	}
	counters, _ := cur.counters.next()
	st := &ledgerState{records: cur.records, counters: counters, lost: maps.Clone(cur.lost)}
	if st.lost == nil {
		st.lost = map[string]lostUses{}
	}
	lu := st.lost[id]
	if lu.create != c.Create {
		lu = lostUses{create: c.Create}
	}
	lu.n += wc.Version - c.Version
	st.lost[id] = lu
	st.counters.set(id, c)
	l.state.Store(st)
	l.cfg.Logger.Error().Strs("approvals", []string{id}).Msg("etcd went back in revision and lost uses of approvals: this sidecar counts them as spent; an approval that needs more uses must be granted again")
	return st
}

// prune forgets the counter of approval id when it has no record: a
// sidecar's etcd role may put any key under approval-uses/, and those
// must not make every ledger (and each copy apply makes) grow. A grant
// writes its record and counter in one transaction, so both arrive in
// one read or watch batch; a counter pruned is refused anyway (Reserve
// reads etcd for a record it does not hold). list prunes every id it
// read, apply those its events name: no other counter lacked its record.
func (st *ledgerState) prune(id string) {
	if !st.records.has(id) {
		st.counters.del(id)
	}
}

// put records kv, an approval record or a use counter, and returns the
// approval id it is of ("" for neither).
func (st *ledgerState) put(k Layout, kv *mvccpb.KeyValue) string {
	key := string(kv.Key)
	if id, ok := k.ParseApprovalCounter(key); ok {
		st.counters.set(id, CounterOf(kv))
		return id
	}
	id, ok := strings.CutPrefix(key, k.ApprovalsDir())
	if !ok {
		return ""
	}
	if cur, seen := st.records.get(id); !seen || cur.rev < kv.ModRevision {
		st.records.set(id, ledgerEntry{raw: kv.Value, rev: kv.ModRevision})
	}
	return id
}

// remove forgets kv, an approval record or a use counter that was
// deleted (its lease expired, or a sidecar credential deleted the
// counter: Count then refuses every further use), and returns the
// approval id it is of ("" for neither).
func (st *ledgerState) remove(k Layout, kv *mvccpb.KeyValue) string {
	key := string(kv.Key)
	if id, ok := k.ParseApprovalCounter(key); ok {
		st.counters.del(id)
		return id
	}
	id, ok := strings.CutPrefix(key, k.ApprovalsDir())
	if !ok {
		return ""
	}
	st.records.del(id) // no record, no use
	return id
}

// consumeAttempts bounds the transactions of one Reserve or Commit that
// lose a race with another sidecar's use of the same approval.
const consumeAttempts = 8

// Consume spends one use of the approval id by client on route at now at
// once (Reserve, then Commit) and reports whether it admits the request:
// for a caller that judges nothing between the two.
func (l *Ledger) Consume(id []byte, client, route string, requestID []byte, now time.Time) bool {
	h := l.Reserve(id, client, route, requestID, now)
	return h != nil && h.Commit(now)
}

// fetch reads the record of approval id and its counter from etcd, in one
// transaction so both are of one revision.
func (l *Ledger) fetch(ctx context.Context, id string) (ledgerEntry, Counter, bool) {
	resp, err := l.cli.Txn(ctx).Then(l.readOps(id)...).Commit()
	if err != nil {
		return ledgerEntry{}, Counter{}, false
	}
	return l.read(resp)
}

// readOps read the record of approval id and its counter.
func (l *Ledger) readOps(id string) []clientv3.Op {
	return []clientv3.Op{clientv3.OpGet(l.k.Approval(id)), clientv3.OpGet(l.k.ApprovalCounter(id), clientv3.WithKeysOnly())}
}

// read returns what readOps read in resp; ok is false when there is no
// record.
func (l *Ledger) read(resp *clientv3.TxnResponse) (ledgerEntry, Counter, bool) {
	rec := resp.Responses[0].GetResponseRange().Kvs
	if len(rec) == 0 {
		return ledgerEntry{}, Counter{}, false
	}
	var c Counter
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
		c = CounterOf(kvs[0])
	}
	return ledgerEntry{raw: rec[0].Value, rev: rec[0].ModRevision}, c, true
}
