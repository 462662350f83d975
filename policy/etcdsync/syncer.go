package etcdsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// SyncConfig configures a Syncer. Zero durations take the defaults in
// parentheses.
type SyncConfig struct {
	Prefix    string        // deployment prefix (DefaultPrefix)
	StateDir  string        // directory of the last-known-good file; "" keeps none
	Pod       string        // member name at members/<pod>; "" writes no member record
	Reconcile time.Duration // full re-read while watching (5m)
	Progress  time.Duration // how often to ask etcd to confirm the watch is current (5s)
	StartWait time.Duration // how long to wait for etcd at start before serving the last-known-good file (3s)
	MemberTTL time.Duration // lease of the member record (15s; at most MaxMemberTTL, which a longer one is cut to)
	Logger    zerolog.Logger
	Now       func() time.Time // wall clock of suspension ends and the member record's times (time.Now); tests simulate days with it
}

func (c *SyncConfig) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Reconcile, 5*time.Minute)
	def(&c.Progress, 5*time.Second)
	def(&c.StartWait, 3*time.Second)
	def(&c.MemberTTL, 15*time.Second)
	c.MemberTTL = min(c.MemberTTL, MaxMemberTTL)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Syncer keeps a policy.Store current with the policy state in etcd. Run
// does the work; the other methods are safe to call from any goroutine
// (admin endpoints, metrics) while it runs.
type Syncer struct {
	cli   *clientv3.Client
	store *policy.Store
	cfg   SyncConfig
	k     Layout
	saves chan *State // to the last-known-good writer; capacity 1, latest wins
	marks chan struct{}
	back  chan struct{} // confirm to the watch: etcd answered below the revision applied; capacity 1

	// Run's own state; only the goroutine in Run touches it.
	st       *State           // the state applied, nil before the first read
	goodDoc  *policy.Document // the last document that compiled
	goodSrc  string           // its text, which the last-known-good file holds while a later one is refused
	lkgSaved int64            // unix nanoseconds the last-known-good file installed was saved: when it was confirmed
	docSrc   string           // parse cache: the text of doc
	// warnedRev and warnedSrc are the policy revision and text whose
	// push-rule problems warnPush logged last.
	warnedRev int64
	warnedSrc string
	doc       *policy.Document
	docErr    error
	lastBad   string // text of the last refusal, so a failure is counted once
	decoded   keyCache
	base      amendBase       // the snapshot last compiled, for amend
	invalid   []string        // invalid records of the state last compiled
	reported  map[string]bool // invalid records already logged and counted
	// saved is the state last offered to the last-known-good writer, or
	// the file's state read at the start or installed: what the file
	// holds for a later state without a policy document, with its
	// revocations and suspensions added (tightened). Never changed once
	// set: the writer may be reading it.
	saved *State
	// held are the revocations kept in force over etcd gone back (hold),
	// by id, and heldSusp the suspensions, by client; prior is the
	// last-known-good file's state read at the start, what the first read
	// of etcd is compared with (nil after it).
	held     map[string]string
	heldSusp map[string]string
	prior    *State
	// untold are the held revocations holdLost could not tell deleted by
	// hand from lost (etcd did not answer heldAt), by id: the revision
	// applied when they went, which the next read whole asks about again.
	untold map[string]int64
	// untoldSusp are the held suspensions holdLostSuspensions could not
	// tell resumed from lost (etcd did not answer), by client.
	untoldSusp map[string]bool

	// wit are the witnesses of the state applied (witness.go): set by
	// Run, checked and moved on by confirm, hence the lock.
	witMu sync.Mutex
	wit   witnesses

	revision  atomic.Int64  // etcd revision of the state applied
	cluster   atomic.Uint64 // etcd cluster id of the state last read from etcd (0: none yet)
	ready     atomic.Bool   // a snapshot from this Syncer is in the Store
	current   atomic.Bool   // in sync with etcd (not serving the last-known-good file)
	failures  atomic.Int64
	restarts  atomic.Int64
	rewinds   atomic.Int64 // re-reads of etcd below the revision applied (restored or replaced cluster), followed
	heldN     atomic.Int64 // len(held)
	heldSN    atomic.Int64 // len(heldSusp)
	compiles  atomic.Int64 // states compiled, not amended
	installs  atomic.Int64 // states read whole that differed from the one applied
	edited    atomic.Int64 // key records amended in
	lastApply atomic.Int64 // unix nanoseconds of the last Swap

	invalidTotal atomic.Int64 // invalid records reported
	down         atomic.Int64 // unix nanoseconds etcd stopped answering; 0 while it answers
	invalidNow   atomic.Int64 // invalid records in the state applied

	saveFailures atomic.Int64 // writes of the last-known-good file that failed

	mu      sync.Mutex // guards the following fields
	lastErr string
	lkg     LKGHealth // the saves' state; Dir and Failures are filled in by LKGHealth
}

// NewSyncer returns a Syncer feeding store from the deployment in cfg.
// It does not own cli.
func NewSyncer(cli *clientv3.Client, store *policy.Store, cfg SyncConfig) *Syncer {
	cfg.defaults()
	return &Syncer{cli: cli, store: store, cfg: cfg, k: NewLayout(cfg.Prefix), saves: make(chan *State, 1), marks: make(chan struct{}, 1), back: make(chan struct{}, 1)}
}

// Ready reports whether the Syncer has put a snapshot in the Store (from
// etcd or from the last-known-good file).
func (s *Syncer) Ready() bool { return s.ready.Load() }

// Current reports whether the Syncer has read etcd since it last lost the
// watch (false while serving the last-known-good file).
func (s *Syncer) Current() bool { return s.current.Load() }

// UnreachableSince returns when etcd stopped answering the Syncer's reads
// (a re-read, or the confirm read every Progress), or the zero time while
// it answers. A watch stream that merely stays open is no answer: a
// partitioned or hung etcd keeps it open and quiet.
func (s *Syncer) UnreachableSince() time.Time {
	if d := s.down.Load(); d != 0 {
		return time.Unix(0, d)
	}
	return time.Time{}
}

// Revision returns the etcd revision of the state applied (0 before the first).
func (s *Syncer) Revision() int64 { return s.revision.Load() }

// Failures returns how many policies were refused because they did not compile.
func (s *Syncer) Failures() int64 { return s.failures.Load() }

// InvalidRecords returns how many key, revocation and suspension records
// of the state applied are invalid (left out, or failing closed).
func (s *Syncer) InvalidRecords() int64 { return s.invalidNow.Load() }

// LastError returns why the last policy was refused, or "" if the state in
// etcd compiled.
func (s *Syncer) LastError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Run syncs until ctx ends, then returns nil: it reads the whole state at
// one revision (or, if etcd does not answer within StartWait, serves the
// last-known-good file until it does), then watches for later changes.
// A broken or compacted watch is followed by a full re-read. Run may be
// called again after it returns: it resumes watching from the revision it
// applied. It returns an error only if StateDir cannot be created or is not
// private to this user (CheckStateDir).
func (s *Syncer) Run(ctx context.Context) error {
	if s.cfg.StateDir != "" {
		if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
			return fmt.Errorf("cannot create state directory %q: %w", s.cfg.StateDir, err)
		}
		if err := CheckStateDir(s.cfg.StateDir); err != nil {
			return err
		}
		s.sweepKilledSaves(time.Now())
	}
	bg, stop := context.WithCancel(ctx)
	// The save loop ends after the loop below, not with ctx: its last save
	// is of the state last applied, which an apply running as ctx ended
	// offers after ctx is done (a revocation arriving at a SIGTERM).
	saving, stopSaves := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.saveLoop(saving) })
	wg.Go(func() { s.memberLoop(bg) })
	wg.Go(func() { s.confirmLoop(bg) })
	defer wg.Wait()
	defer stopSaves()
	defer stop()
	if s.st == nil && s.cfg.StateDir != "" {
		// The file's revocations are held across an etcd rewind (rewind.go):
		// one that cannot be read is said, not skipped in silence.
		switch l, err := readLKG(s.cfg.StateDir, string(s.k)); {
		case err == nil:
			s.prior, s.held, s.heldSusp = l.State, maps.Clone(l.State.Held), maps.Clone(l.State.HeldSuspensions)
			s.saved = l.State
			// Its document is the last good one: a document in etcd
			// that is refused at the first read falls back to it, with
			// etcd's live records, as it would have on the sidecar that
			// saved it (TestRestartWithRefusedDocumentServesLastGood;
			// before, a restart with etcd up served nothing).
			if l.State.Policy != "" {
				if doc, err := policy.Load(s.k.Policy(), []byte(l.State.Policy)); err == nil {
					s.goodDoc, s.goodSrc = doc, l.State.Policy
				}
			}
			s.witMu.Lock() // confirmLoop runs already
			s.wit = witnesses{check: l.State.Witness, next: l.State.Witness}
			if e := l.State.EarlierWitnesses; len(e) > 0 {
				s.wit.check, s.wit.first = e[0], e[min(1, len(e)-1)]
			}
			s.witMu.Unlock()
			// Counted now, not at the first read of etcd: served from the
			// file while etcd does not answer, they are in force
			// (TestPrunedEarlyHeldCountedFromTheFile).
			s.heldN.Store(int64(len(s.held)))
			s.heldSN.Store(int64(len(s.heldSusp)))
		case !errors.Is(err, fs.ErrNotExist):
			s.cfg.Logger.Error().Err(err).Msg("last-known-good policy unusable: revocations it holds are not kept if etcd goes back in revision, and it is replaced at the first read")
		}
	}
	if s.st == nil || !s.current.Load() {
		s.start(ctx)
	}
	for ctx.Err() == nil {
		err := s.watch(ctx)
		if ctx.Err() != nil {
			break
		}
		s.restarts.Add(1)
		if rw, ok := errors.AsType[*rewound](err); ok {
			// The re-read that found it is the state to follow (install
			// logs it); the watch starts again from its revision.
			s.install(rw.st, true)
			continue
		}
		s.current.Store(false)
		s.cfg.Logger.Warn().Err(err).Int64("revision", s.st.Revision).Msg("etcd watch lost; re-reading the policy state")
		s.relist(ctx)
	}
	return nil
}

// start makes the first read; if etcd does not answer in time it installs
// the last-known-good file, then keeps trying.
func (s *Syncer) start(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.StartWait)
	st, err := ReadState(rctx, s.cli, s.k)
	cancel()
	if err == nil {
		s.install(st, true)
		return
	}
	s.lost(err, "cannot read the policy state")
	if s.st == nil {
		s.loadLKG(err)
	}
	s.relist(ctx)
}

// loadLKG installs the last-known-good file, if there is one.
func (s *Syncer) loadLKG(cause error) {
	log := s.cfg.Logger.Warn().AnErr("etcd", cause)
	if s.cfg.StateDir == "" {
		log.Msg("etcd unreachable and no state directory: serving nothing until it answers")
		return
	}
	l, err := readLKG(s.cfg.StateDir, string(s.k))
	if err != nil {
		log.Err(err).Msg("etcd unreachable and no last-known-good policy: serving nothing until it answers")
		return
	}
	// The file is as current as when it was saved, and no more: apply
	// installs its snapshot confirmed then (policy.Store.SwapHeard).
	s.lkgSaved = l.Saved.UnixNano()
	s.install(l.State, false)
	log.Int64("revision", l.State.Revision).Time("saved", l.Saved).Msg("etcd unreachable: serving the last-known-good policy")
}

// relist re-reads the whole state until it succeeds or ctx ends, backing
// off from 100ms to 5s between attempts.
func (s *Syncer) relist(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := ReadState(rctx, s.cli, s.k)
		cancel()
		if err == nil {
			s.reached()
			s.install(st, true)
			return
		}
		s.lost(err, "cannot read the policy state")
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// install makes st, read whole from etcd or the last-known-good file, the
// applied state, applying it only if it differs from the one applied. A
// state that differs only in key records, revocations and suspensions is
// amended, like the watch's changes: after a lost watch at 100,000 keys,
// every sidecar would otherwise compile at once. A state read from etcd
// below the revision applied (a restored or replaced cluster) is followed,
// counted and logged, and always applied, so the snapshot, the member
// record and the metrics carry etcd's revision, not the one it left.
func (s *Syncer) install(st *State, fromEtcd bool) {
	prev := s.st
	if fromEtcd {
		if prev == nil {
			prev = s.prior // the state this sidecar served before its restart
		}
		s.prior = nil
	}
	replaced := fromEtcd && prev != nil && otherCluster(prev.ClusterID, st.ClusterID)
	back := fromEtcd && prev != nil && (st.Revision < prev.Revision || replaced)
	var forked Witness
	if fromEtcd && prev != nil && !back {
		forked = s.forked()
		back = forked.Revision > 0
	}
	if back {
		log := s.cfg.Logger.Warn().Int64("was", prev.Revision).Int64("now", st.Revision)
		what := "etcd revision went backwards"
		if forked.Revision > 0 {
			log = log.Str("witness_key", forked.Key).Int64("witness_revision", forked.Revision)
			what = "etcd's history no longer holds a write this sidecar applied, though etcd is past its revision"
		}
		if replaced {
			log = log.Str("was_cluster", clusterHex(prev.ClusterID)).Str("now_cluster", clusterHex(st.ClusterID))
			what = "etcd cluster id changed"
			if st.Revision < prev.Revision {
				what = "etcd revision went backwards and its cluster id changed"
			}
		}
		log.Msg(what + " (restored or replaced cluster?); following etcd: the policy state read is applied, revocations in force it lacks are held (suspensions until their until), and the watch starts again from it")
		s.hold(prev, st)
	} else if fromEtcd && prev != nil {
		s.holdLost(prev, st)
		s.holdLostSuspensions(prev, st)
	}
	if fromEtcd {
		s.cluster.Store(st.ClusterID)
		s.mergeHeld(st)
	}
	if back {
		// Counted after its lines are written and the holds counted: a
		// reader that sees the count sees them (TestRestoredBackupKeepsRevocations
		// read the log between the two under load, and
		// TestRestoredBackupKeepsSuspensions once read no suspension held).
		s.rewinds.Add(1)
	}
	// ReadState builds st through apply, which marks every key record it
	// puts as an edit: the edits are the records that differ from the
	// state applied, when that state can be amended, and none otherwise.
	st.keyEdits = nil
	same := false
	if s.st != nil && s.ready.Load() {
		diff := keyDiff(s.st.Keys, st.Keys)
		// A state from the file is never the same as one from etcd: its
		// suspensions past their until lapsed, and etcd's records of them
		// suspend (fromFile).
		same = len(diff) == 0 && s.st.Policy == st.Policy && s.st.fromFile == st.fromFile &&
			maps.Equal(s.st.Revocations, st.Revocations) && maps.Equal(s.st.Suspensions, st.Suspensions)
		if s.base.st == s.st && len(s.st.keyEdits) == 0 && s.st.Policy == st.Policy {
			st.keyEdits, s.base.st = diff, st
		}
	}
	s.st = st
	s.revision.Store(st.Revision)
	if fromEtcd {
		// A state read from etcd is its own witness; the last-known-good
		// file's, earlier ones included, were set by Run and are kept
		// until etcd answers.
		s.witMu.Lock()
		s.wit = witnesses{check: st.Witness, next: st.Witness}
		s.witMu.Unlock()
	}
	// Current once the state read is what the Store serves, not before:
	// a reader that saw Current (readiness, the current gauge, a test)
	// while the state was compiled found the last-known-good snapshot
	// still in force (TestSuspensionLapsedInFileHoldsOnceEtcdAnswers
	// failed so, about one run in a hundred).
	if same && !back {
		if fromEtcd {
			s.current.Store(true)
		}
		s.store.Heard(time.Now().UnixNano())
		return
	}
	s.installs.Add(1)
	s.apply(fromEtcd)
	if fromEtcd {
		s.current.Store(true)
	}
	s.mark() // the member record publishes the revision, even when apply kept the snapshot
}

// watch follows etcd until the watch breaks (the error says why) or ctx
// ends. It starts at the revision applied, not the one after, and handle
// skips that revision's events: etcd sends a progress notification only
// to a watcher whose start revision the store has reached, so a watch
// from revision+1 on an idle deployment would never be confirmed, and a
// policy with `staleness: {action: deny}` would refuse every credential
// (TestStalenessBound).
func (s *Syncer) watch(ctx context.Context) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(wctx, string(s.k)+"/", clientv3.WithPrefix(), clientv3.WithRev(s.st.Revision), clientv3.WithProgressNotify())
	reconcile := time.NewTicker(s.cfg.Reconcile)
	defer reconcile.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-reconcile.C:
			if err := s.reconcile(ctx); err != nil {
				return err
			}
		case <-s.back:
			// confirm read a revision below the one applied: re-read now
			// rather than at the next reconcile.
			if err := s.reconcile(ctx); err != nil {
				return err
			}
		case resp, ok := <-wch:
			if !ok {
				return errors.New("watch channel closed")
			}
			if err := s.handle(resp, wch); err != nil {
				return err
			}
		}
	}
}

// reconcile re-reads the whole state while the watch goes on, in case a
// change was ever missed; an unchanged state only confirms currency. A
// state read below the revision applied means etcd went back (restored
// from a backup, or replaced by a new cluster): the client resumes a
// broken watch at the revision it had reached, now in etcd's future, so
// nothing would arrive on it again. reconcile returns that state as a
// *rewound, which ends the watch; Run installs it and watches from its
// revision. ReadState is linearizable (TestStateReadsLinearizable): a
// member that lags cannot answer below what the watch delivered, so only
// etcd going back makes a re-read lower.
func (s *Syncer) reconcile(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := ReadState(rctx, s.cli, s.k)
	if err != nil {
		s.lost(err, "reconcile read failed")
		return nil
	}
	s.reached()
	if st.Revision < s.st.Revision || otherCluster(s.st.ClusterID, st.ClusterID) {
		return &rewound{st: st, was: s.st.Revision}
	}
	s.install(st, true)
	return nil
}

// rewound ends a watch whose re-read found etcd below the revision applied:
// st is the state read.
type rewound struct {
	st  *State
	was int64
}

func (e *rewound) Error() string {
	return fmt.Sprintf("etcd revision went backwards from %d to %d", e.was, e.st.Revision)
}

// handle applies a watch response and the ones etcd has sent since, which
// more holds, in one apply: a burst of revocations written one at a time
// (a script revoking a tenant's keys) is amended in once, not once per
// revocation while the later ones wait (BenchmarkRevocationBurst). The
// Gosched between takes lets the client's goroutine hand over the next
// response it holds. At most maxTaken are taken at once: a steady stream
// of changes must not hold back those already taken. What was taken
// before a response that ends the watch is applied first, so the state
// applied is always what the Store holds.
func (s *Syncer) handle(resp clientv3.WatchResponse, more <-chan clientv3.WatchResponse) error {
	changed, err := s.absorb(resp)
	heard := err == nil
drain:
	for taken := 1; err == nil && taken < maxTaken; taken++ {
		runtime.Gosched()
		select {
		case r, ok := <-more:
			if !ok {
				err = errors.New("watch channel closed")
				break drain
			}
			var c bool
			c, err = s.absorb(r)
			changed = changed || c
		default:
			break drain
		}
	}
	if changed {
		s.apply(true)
	}
	if heard {
		s.store.Heard(time.Now().UnixNano())
	}
	return err
}

// maxTaken bounds the watch responses applied in one snapshot.
const maxTaken = 256

// absorb applies the events of one watch response to the state applied
// and reports whether a record changed. Events at or below the revision
// applied are ignored: a re-read may have applied them already.
func (s *Syncer) absorb(resp clientv3.WatchResponse) (changed bool, err error) {
	if resp.CompactRevision != 0 {
		return false, fmt.Errorf("watch from revision %d compacted at %d", s.st.Revision, resp.CompactRevision)
	}
	if err := resp.Err(); err != nil {
		return false, fmt.Errorf("watch failed: %w", err)
	}
	if resp.Canceled {
		return false, errors.New("watch canceled by etcd")
	}
	if otherCluster(s.st.ClusterID, resp.Header.ClusterId) {
		// The client reconnected to another cluster and resumed the watch
		// at the revision reached; its events are of a state never read.
		return false, fmt.Errorf("watch answered by etcd cluster %s, not %s", clusterHex(resp.Header.ClusterId), clusterHex(s.st.ClusterID))
	}
	last := s.st.Revision
	var wrote Witness
	for _, ev := range resp.Events {
		if ev.Kv.ModRevision <= s.st.Revision {
			continue
		}
		key := string(ev.Kv.Key)
		var id, was string // a revocation deleted, and its record
		if rid, ok := strings.CutPrefix(key, s.k.RevocationsDir()); ok && ev.Type == mvccpb.DELETE {
			id, was = rid, s.st.Revocations[rid]
		}
		state := s.st.apply(s.k, key, string(ev.Kv.Value), ev.Type == mvccpb.PUT)
		changed = state || changed
		if was != "" {
			s.keepLapsing(id, was)
		}
		if state && ev.Type == mvccpb.PUT {
			wrote = Witness{Key: string(ev.Kv.Key), Revision: ev.Kv.ModRevision}
		}
		switch {
		case len(s.held)+len(s.heldSusp) == 0:
		case ev.Type == mvccpb.PUT:
			s.releaseWritten(string(ev.Kv.Key), string(ev.Kv.Value))
		default:
			s.keepDeleted(string(ev.Kv.Key))
		}
		last = max(last, ev.Kv.ModRevision)
	}
	if resp.IsProgressNotify() {
		last = max(last, resp.Header.Revision)
	}
	s.st.Revision = last
	s.revision.Store(last)
	if wrote.Revision > 0 {
		s.st.Witness = wrote
		s.witMu.Lock()
		if s.wit.first == (Witness{}) {
			s.wit.first = wrote
		}
		s.wit.next = wrote
		s.witMu.Unlock()
	}
	return changed, nil
}
