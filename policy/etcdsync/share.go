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
	"go.etcd.io/etcd/api/v3/mvccpb"
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
	TTL      time.Duration // lease of the demand record (5s)
	Stale    time.Duration // etcd silent this long: fall back to 1/members (TTL)
	// Floor is the part of an equal share (1/members) every live sidecar
	// keeps whatever its demand (0.2), so an idle sidecar can admit a
	// first burst.
	Floor float64
	// Demand calls fn with the cumulative requests of each tenant (tenant
	// true) and global client (dataplane.Server.Demand).
	Demand func(fn func(tenant bool, id string, n uint64))
	// Apply installs the shares (dataplane.Server.SetShares). It is
	// called from the Sharer's goroutine, at most once per Interval.
	Apply  func(Shares)
	Logger zerolog.Logger
}

func (c *ShareConfig) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, time.Second)
	def(&c.TTL, 5*time.Second)
	def(&c.Stale, c.TTL)
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
// The shares of the sidecars sum to 1, so the deployment admits the
// policy's rate, split by demand; the floor lets an idle sidecar admit a
// first burst. When etcd has not answered for Stale, every share falls
// back to 1/(the last known N), and Fallback reports it.
//
// Run does the work; the other methods are safe for concurrent use.
type Sharer struct {
	cli *clientv3.Client
	cfg ShareConfig
	k   Layout

	// Run's own state.
	runCtx  context.Context
	prev    map[string]uint64 // cumulative counts at the last sample, "t/" or "c/" + id
	prevAt  time.Time
	pubbed  bool // a demand record is in etcd
	lease   atomic.Int64
	lastN   int
	last    map[string]float64 // shares applied at the last tick, by "t/" or "c/" + id
	active  map[string]bool    // ids with demand here at the last tick

	okAt     atomic.Int64 // unix nanoseconds of etcd's last answer
	fallback atomic.Bool
	writes   atomic.Int64
	members  atomic.Int64

	mu      sync.Mutex              // guards the following fields
	peers   map[string]bool         // live members, by pod
	demand  map[string]DemandRecord // demand records, by pod
	current map[string]float64      // the tenant shares last applied (for the metric)
}

// NewSharer returns a Sharer for the deployment and pod in cfg. It does
// not own cli.
func NewSharer(cli *clientv3.Client, cfg ShareConfig) *Sharer {
	cfg.defaults()
	return &Sharer{cli: cli, cfg: cfg, k: NewLayout(cfg.Prefix), prev: map[string]uint64{},
		peers: map[string]bool{}, demand: map[string]DemandRecord{}}
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
	s.prevAt = time.Now()
	s.sampleInto(map[string]uint64{})
	s.apply(DemandRecord{}, time.Now())
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
	if s.prevAt.IsZero() {
		s.prevAt = time.Now()
		s.sampleInto(map[string]uint64{})
	}
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			s.keepLease(ctx)
			own := s.sample(now)
			s.publish(ctx, own)
			s.apply(own, time.Now())
		}
	}
}

// sample returns the requests per second of each tenant and global client
// since the last sample.
func (s *Sharer) sample(now time.Time) DemandRecord {
	cur := map[string]uint64{}
	s.sampleInto(cur)
	secs := now.Sub(s.prevAt).Seconds()
	s.prevAt = now
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
	s.prev = cur
	return d
}

// sampleInto fills cur with the cumulative counts, and s.prev on the
// first call.
func (s *Sharer) sampleInto(cur map[string]uint64) {
	s.cfg.Demand(func(tenant bool, id string, n uint64) {
		if tenant {
			cur["t/"+id] = n
		} else {
			cur["c/"+id] = n
		}
	})
	if len(s.prev) == 0 {
		s.prev = cur
	}
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
	b, err := json.Marshal(own)
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

// apply computes the shares from own demand and the peers' records and
// applies them; while etcd is silent, it applies 1/(the last known N).
func (s *Sharer) apply(own DemandRecord, now time.Time) {
	if now.UnixNano()-s.okAt.Load() > int64(s.cfg.Stale) && s.lastN > 0 {
		if !s.fallback.Swap(true) {
			s.cfg.Logger.Warn().Int("members", s.lastN).Msg("etcd unreachable: global limits fall back to 1/members")
		}
		s.setCurrent(nil)
		s.cfg.Apply(Shares{Default: 1 / float64(s.lastN)})
		return
	}
	if s.fallback.Swap(false) {
		s.cfg.Logger.Info().Msg("etcd reachable again: global limits follow demand")
	}
	s.mu.Lock()
	n := 1
	others := make([]DemandRecord, 0, len(s.peers))
	for pod := range s.peers {
		if pod != s.cfg.Pod {
			n++
			others = append(others, s.demand[pod])
		}
	}
	s.mu.Unlock()
	s.lastN = n
	s.members.Store(int64(n))
	sh := Shares{
		Tenants: s.shareMap("t/", own.Tenants, others, func(d DemandRecord) map[string]float64 { return d.Tenants }, n),
		Clients: s.shareMap("c/", own.Clients, others, func(d DemandRecord) map[string]float64 { return d.Clients }, n),
		Default: 1 / float64(n),
	}
	s.remember(sh, own)
	s.setCurrent(sh.Tenants)
	s.cfg.Apply(sh)
}

// shareMap returns the share of every id with demand here or at a peer.
// An id whose demand here is new (none at the last tick) keeps at most the
// share it had: the peers that started at the same time have not
// published yet, and each would otherwise take most of the limit for an
// interval (TestNoisyNeighbour saw 30/s and 24/s of a 20/s limit in the
// second and third seconds).
func (s *Sharer) shareMap(kind string, own map[string]float64, others []DemandRecord, of func(DemandRecord) map[string]float64, n int) map[string]float64 {
	total := map[string]float64{}
	for id, r := range own {
		total[id] += r
	}
	for _, d := range others {
		for id, r := range of(d) {
			total[id] += r
		}
	}
	out := make(map[string]float64, len(total))
	for id, t := range total {
		f := Share(own[id], t, n, s.cfg.Floor)
		if own[id] > 0 && !s.active[kind+id] {
			prev, ok := s.last[kind+id]
			if !ok {
				prev = 1 / float64(n)
			}
			f = min(f, prev)
		}
		out[id] = f
	}
	return out
}

// remember keeps the shares applied and the ids with demand here, for
// shareMap's next call.
func (s *Sharer) remember(sh Shares, own DemandRecord) {
	s.last, s.active = map[string]float64{}, map[string]bool{}
	for id, f := range sh.Tenants {
		s.last["t/"+id] = f
	}
	for id, f := range sh.Clients {
		s.last["c/"+id] = f
	}
	for id := range own.Tenants {
		s.active["t/"+id] = true
	}
	for id := range own.Clients {
		s.active["c/"+id] = true
	}
}

// Share returns a sidecar's share of a limit: an equal share (1/n) when
// nobody has demand, else floor/n plus (1-floor) of the rest in
// proportion of its demand own to the deployment's total.
func Share(own, total float64, n int, floor float64) float64 {
	if total <= 0 || n <= 1 {
		return 1 / float64(max(n, 1))
	}
	return floor/float64(n) + (1-floor)*own/total
}

func (s *Sharer) setCurrent(m map[string]float64) {
	s.mu.Lock()
	s.current = m
	s.mu.Unlock()
}

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

// Writes returns the demand records written or deleted so far.
func (s *Sharer) Writes() int64 { return s.writes.Load() }

// watchLoop keeps the peers and their demand records current: a list at
// one revision, then a watch from the next; a lost watch is listed again.
func (s *Sharer) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := s.list(ctx)
		if err == nil {
			err = s.follow(ctx, rev+1)
		}
		if ctx.Err() == nil {
			s.cfg.Logger.Debug().Err(err).Msg("demand watch lost; reading again")
			select {
			case <-ctx.Done():
			case <-time.After(s.cfg.Interval / 2):
			}
		}
	}
}

// list reads the members and demand records at one revision.
func (s *Sharer) list(ctx context.Context) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, max(s.cfg.Stale, time.Second))
	defer cancel()
	mem, err := s.cli.Get(lctx, s.k.MembersDir(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, err
	}
	rev := mem.Header.Revision
	dem, err := s.cli.Get(lctx, s.k.DemandDir(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return 0, err
	}
	s.heard()
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.peers)
	clear(s.demand)
	for _, kv := range mem.Kvs {
		s.peers[strings.TrimPrefix(string(kv.Key), s.k.MembersDir())] = true
	}
	for _, kv := range dem.Kvs {
		s.setDemandLocked(kv)
	}
	return rev, nil
}

// follow applies the changes to members and demand records from rev until
// a watch fails or ctx ends.
func (s *Sharer) follow(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	mem := s.cli.Watch(wctx, s.k.MembersDir(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	dem := s.cli.Watch(wctx, s.k.DemandDir(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-mem:
		case resp, ok = <-dem:
		}
		if !ok {
			return errors.New("demand watch closed")
		}
		if err := resp.Err(); err != nil {
			return err
		}
		s.heard()
		s.applyEvents(resp.Events)
	}
}

func (s *Sharer) applyEvents(evs []*clientv3.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		key := string(ev.Kv.Key)
		if pod, ok := strings.CutPrefix(key, s.k.MembersDir()); ok {
			if ev.Type == mvccpb.DELETE {
				delete(s.peers, pod)
			} else {
				s.peers[pod] = true
			}
			continue
		}
		if ev.Type == mvccpb.DELETE {
			delete(s.demand, strings.TrimPrefix(key, s.k.DemandDir()))
		} else {
			s.setDemandLocked(ev.Kv)
		}
	}
}

// setDemandLocked decodes one demand record; an undecodable one counts as
// no demand.
func (s *Sharer) setDemandLocked(kv *mvccpb.KeyValue) {
	pod := strings.TrimPrefix(string(kv.Key), s.k.DemandDir())
	var d DemandRecord
	if err := json.Unmarshal(kv.Value, &d); err != nil {
		s.cfg.Logger.Debug().Err(err).Str("pod", pod).Msg("undecodable demand record; counted as no demand")
		delete(s.demand, pod)
		return
	}
	s.demand[pod] = d
}
