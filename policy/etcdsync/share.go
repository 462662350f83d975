package etcdsync

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Shares are the parts of the deployment-wide limits one sidecar may admit,
// by tenant id and by client id (clients whose limit.scope is global), and
// the share of every tenant or client the maps lack. The sidecar command
// hands them to dataplane.Server.SetShares.
type Shares struct {
	Tenants map[string]float64
	Clients map[string]float64
	Default float64
}

// DemandRecord is the record at demand/<pod>: the requests per second each
// busy tenant ("t") and global client ("c") brought to the sidecar over the
// last interval. Only ids with traffic are listed.
type DemandRecord struct {
	Tenants map[string]float64 `json:"t,omitempty"`
	Clients map[string]float64 `json:"c,omitempty"`
}

func (d DemandRecord) empty() bool { return len(d.Tenants) == 0 && len(d.Clients) == 0 }

// ShareConfig configures a Sharer. Zero values take the defaults in
// parentheses.
type ShareConfig struct {
	Prefix   string        // deployment prefix (DefaultPrefix)
	Pod      string        // this sidecar's member name (required)
	Interval time.Duration // how often demand is published and shares computed (1s)
	TTL      time.Duration // lease of the demand record (5s; at most MaxMemberTTL)
	Stale    time.Duration // etcd silent this long: fall back to 1/members (TTL)
	// Confirm is how often a linearizable read checks that etcd has not
	// gone back below the revision watched (restored or replaced
	// cluster) (5s).
	Confirm time.Duration
	// Floor is the part of an equal share (1/members) every live sidecar
	// keeps whatever its demand (0.2), so an idle sidecar can admit a
	// first burst.
	Floor float64
	// Demand calls fn with the cumulative requests of each tenant (tenant
	// true) and global client (dataplane.Server.Demand).
	Demand func(fn func(tenant bool, id string, n uint64))
	// Apply installs the shares (dataplane.Server.SetShares). It is
	// called from the Sharer's goroutine, at most once per Interval.
	Apply func(Shares)
	// Ceiling returns the most requests per second a sidecar's demand for
	// a tenant (tenant true) or global client counts for, here and at the
	// peers, or 0 when the policy in force has no global limit for id,
	// whose demand at a peer is then ignored (DemandCeiling of the
	// snapshot in force). nil: no ceiling. Every sidecar shares the
	// sidecars' etcd user, so a peer's record is not trusted to be what
	// that sidecar saw: one claiming 10^9/s for a tenant would hold every
	// other sidecar to the floor of its limit.
	Ceiling func(tenant bool, id string) float64
	// MaxMembers returns the most sidecars a limit is shared among
	// (global_limits.max_sidecars of the policy in force); nil or a
	// result below 1: policy.DefaultGlobalMaxSidecars. Every sidecar
	// shares one etcd user, so the members are not trusted to be
	// sidecars: with more than MaxMembers of them a sidecar computes its
	// share as among MaxMembers, and says so (OverBound, a warn line).
	MaxMembers func() int
	Logger     zerolog.Logger
}

func (c *ShareConfig) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, time.Second)
	def(&c.TTL, 5*time.Second)
	c.TTL = min(c.TTL, MaxMemberTTL)
	def(&c.Stale, c.TTL)
	def(&c.Confirm, 5*time.Second)
	if c.Floor <= 0 || c.Floor > 1 {
		c.Floor = 0.2
	}
}

// Sharer makes the tenant and tenant+class limits (and limit.scope global
// client limits) hold across the deployment's live sidecars, the members
// with a record at members/<pod>, without a network hop per request (the
// Doorman / Gubernator approach, issue 17). Every Interval it reads this
// sidecar's demand (requests per second per tenant over the interval),
// publishes it as a leased record at demand/<pod> when a tenant had
// traffic, and computes this sidecar's share of each limit from the demand
// records it watches:
//
//	share = Floor/N + (1-Floor) * own demand / total demand
//
// with N the live sidecars. A tenant without demand anywhere gets 1/N.
// N counts at most MaxMembers (M), and the peers' demand for an id at
// most (M-1) times its ceiling: whatever members etcd lists, a sidecar's
// share is at least what it would be among M sidecars whose others all
// claim the ceiling (1/M for a sidecar whose own demand is at the
// ceiling), and with at most M members nothing changes.
// The shares of the sidecars sum to 1, so the deployment admits the
// policy's rate, split by demand; the floor lets an idle sidecar admit a
// first burst. When etcd has not answered for Stale, every share falls
// back to 1/(the last known N), and Fallback reports it. A sidecar cut
// off from etcd alone keeps that share after its member lease lapses and
// the others share the whole limit without it: up to (1 + k/N) times the
// limit with k of N cut off, the bound the README states, since it cannot
// tell that from etcd being down for every sidecar.
//
// Run does the work; the other methods are safe for concurrent use.
type Sharer struct {
	cli *clientv3.Client
	cfg ShareConfig
	k   Layout

	// Run's own state.
	runCtx context.Context
	pubbed bool // a demand record is in etcd
	lease  atomic.Int64

	okAt     atomic.Int64 // unix nanoseconds of etcd's last answer
	fallback atomic.Bool
	writes   atomic.Int64
	refused  atomic.Int64 // demand records ignored as too large (MaxDemandBytes, MaxDemandEntries)
	members  atomic.Int64
	bound    atomic.Int64 // the MaxMembers the shares were last computed with
	over     atomic.Bool  // more members than MaxMembers at the last computation
	back     rewindGuard  // the watch loop's; finds etcd gone back below the revision watched
	leases   memberLeases

	calc   sync.Mutex        // orders the computations of shares (tick and watch); guards the following fields
	prev   map[string]uint64 // cumulative counts at the last committed sample, by "t/" or "c/" + id
	prevAt time.Time
	own    DemandRecord
	since  map[string]time.Time // when demand here began, by "t/" or "c/" + id
	last   map[string]float64   // the shares applied last, by "t/" or "c/" + id
	lastN  int                  // the member count applied last
	ready  bool                 // own has been sampled

	mu      sync.Mutex            // guards the following fields
	peers   map[string]bool       // live members, by pod
	demand  map[string]peerDemand // demand records of live peers, by pod
	bigPods map[string]bool       // pods whose last record was refused as too large, logged once
	current map[string]float64    // the tenant shares last applied (for the metric)
}

// peerDemand is a peer's demand record and when it arrived.
type peerDemand struct {
	DemandRecord
	at time.Time
}

// NewSharer returns a Sharer for the deployment and pod in cfg. It does
// not own cli.
func NewSharer(cli *clientv3.Client, cfg ShareConfig) *Sharer {
	cfg.defaults()
	return &Sharer{cli: cli, cfg: cfg, k: NewLayout(cfg.Prefix), prev: map[string]uint64{},
		peers: map[string]bool{}, demand: map[string]peerDemand{}, since: map[string]time.Time{}, last: map[string]float64{}}
}

// Prime reads the live members and their demand once (waiting at most
// ctx) and applies the shares, so a sidecar serves its share from its
// first request rather than the whole limit. An error leaves the shares
// unchanged: without a member count the sidecar admits the whole limit
// until etcd answers.
func (s *Sharer) Prime(ctx context.Context) error {
	if _, err := s.list(ctx); err != nil {
		return err
	}
	s.calc.Lock()
	s.prev, s.prevAt = s.counts(), time.Now()
	s.calc.Unlock()
	s.step(DemandRecord{}, time.Now())
	return nil
}

// Run publishes demand and applies shares every Interval until ctx ends,
// then deletes its demand record (by revoking its lease) and returns nil.
func (s *Sharer) Run(ctx context.Context) error {
	if s.cfg.Pod == "" || s.cfg.Demand == nil || s.cfg.Apply == nil {
		return errors.New("etcdsync: a Sharer needs a pod name, Demand and Apply")
	}
	s.runCtx = ctx
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.watchLoop(ctx) })
	defer s.revoke(ctx)
	s.calc.Lock()
	if s.prevAt.IsZero() {
		s.prev, s.prevAt = s.counts(), time.Now()
	}
	s.calc.Unlock()
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			s.keepLease(ctx)
			s.calc.Lock()
			own := s.sampleLocked(now, true)
			s.calc.Unlock()
			s.publish(ctx, own)
			s.step(own, time.Now())
		}
	}
}

// sampleLocked returns the requests per second of each tenant and global
// client since the last committed sample; commit makes now the start of
// the next one.
func (s *Sharer) sampleLocked(now time.Time, commit bool) DemandRecord {
	cur := s.counts()
	secs := now.Sub(s.prevAt).Seconds()
	var d DemandRecord
	for key, n := range cur {
		delta := n - s.prev[key]
		if n < s.prev[key] {
			delta = n // the counter started over (a tenant removed and added again)
		}
		if delta == 0 || secs <= 0 {
			continue
		}
		m := &d.Tenants
		if strings.HasPrefix(key, "c/") {
			m = &d.Clients
		}
		if *m == nil {
			*m = map[string]float64{}
		}
		(*m)[key[2:]] = float64(delta) / secs
	}
	if commit {
		s.prev, s.prevAt = cur, now
	}
	return d
}

// counts returns the cumulative counts of the data plane, by "t/" or "c/"
// + id.
func (s *Sharer) counts() map[string]uint64 {
	cur := map[string]uint64{}
	s.cfg.Demand(func(tenant bool, id string, n uint64) {
		if tenant {
			cur["t/"+id] = n
		} else {
			cur["c/"+id] = n
		}
	})
	return cur
}

// publish writes own at demand/<pod> on the lease, or deletes the record
// when nothing had traffic; a sidecar with no traffic writes nothing.
func (s *Sharer) publish(ctx context.Context, own DemandRecord) {
	if own.empty() && !s.pubbed {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.Interval)
	defer cancel()
	var err error
	if own.empty() {
		_, err = s.cli.Delete(pctx, s.k.Demand(s.cfg.Pod))
		s.pubbed = err != nil
	} else {
		err = s.put(pctx, own)
	}
	if err != nil {
		s.cfg.Logger.Debug().Err(err).Msg("cannot publish the demand record")
		return
	}
	s.writes.Add(1)
	s.heard()
}

func (s *Sharer) put(ctx context.Context, own DemandRecord) error {
	lease, err := s.leaseID(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(own.capped())
	if err != nil {
		return err
	}
	_, err = s.cli.Put(ctx, s.k.Demand(s.cfg.Pod), string(b), clientv3.WithLease(lease))
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.lease.CompareAndSwap(int64(lease), 0)
	}
	s.pubbed = s.pubbed || err == nil
	return err
}

// leaseID returns the demand record's lease, granting one and keeping it
// alive (until Run ends) if there is none. The lease is kept while idle
// too: its keep-alive answers tell that etcd is reachable.
func (s *Sharer) leaseID(ctx context.Context) (clientv3.LeaseID, error) {
	if id := s.lease.Load(); id != 0 {
		return clientv3.LeaseID(id), nil
	}
	g, err := s.cli.Grant(ctx, int64(max(s.cfg.TTL/time.Second, 1)))
	if err != nil {
		return 0, err
	}
	alive, err := s.cli.KeepAlive(s.runCtx, g.ID)
	if err != nil {
		return 0, err
	}
	s.lease.Store(int64(g.ID))
	go func() {
		for range alive {
			s.heard()
		}
		s.lease.CompareAndSwap(int64(g.ID), 0) // expired or revoked
	}()
	return g.ID, nil
}

// keepLease makes sure the lease exists, waiting at most an Interval.
func (s *Sharer) keepLease(ctx context.Context) {
	if s.lease.Load() != 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.Interval)
	defer cancel()
	if _, err := s.leaseID(lctx); err != nil {
		s.cfg.Logger.Debug().Err(err).Msg("cannot grant the demand lease")
	}
}

// revoke revokes the demand lease, so the record disappears at once.
func (s *Sharer) revoke(ctx context.Context) {
	id := s.lease.Swap(0)
	if id == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if _, err := s.cli.Revoke(rctx, clientv3.LeaseID(id)); err != nil {
		s.cfg.Logger.Debug().Err(err).Msg("cannot revoke the demand lease; the record lapses at its TTL")
	}
}

func (s *Sharer) heard() { s.okAt.Store(time.Now().UnixNano()) }

// TenantShares calls fn with each tenant that has traffic in the
// deployment and this sidecar's current share of its limit (none while
// Fallback: every tenant then has 1/Members).
func (s *Sharer) TenantShares(fn func(tenant string, share float64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range s.current {
		fn(id, f)
	}
}

// Fallback reports whether etcd is unreachable and the shares are 1/(the
// last known member count).
func (s *Sharer) Fallback() bool { return s.fallback.Load() }

// Members returns the live sidecars the shares were last computed for.
func (s *Sharer) Members() int64 { return s.members.Load() }

// MaxMembers returns the most members the shares were last computed
// among (ShareConfig.MaxMembers).
func (s *Sharer) MaxMembers() int64 { return s.bound.Load() }

// OverBound reports whether more members than MaxMembers were live at
// the last computation: each share is then as among MaxMembers, and the
// deployment may admit more than a limit. Fake member records (a stolen
// sidecar certificate) or more replicas than global_limits.max_sidecars.
func (s *Sharer) OverBound() bool { return s.over.Load() }

// Writes returns the demand records written or deleted so far.
func (s *Sharer) Writes() int64 { return s.writes.Load() }

// RefusedDemand returns how many demand records were ignored as larger
// than MaxDemandBytes or holding more than MaxDemandEntries rates.
func (s *Sharer) RefusedDemand() int64 { return s.refused.Load() }

// Rewinds returns how many times etcd was found below the revision the
// demand watch had reached, and the members and demand were read again.
func (s *Sharer) Rewinds() int64 { return s.back.rewinds.Load() }
