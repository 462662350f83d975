package dataplane

import (
	"maps"
	"math"
	"sync"
	"sync/atomic"

	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// Shares are the parts of the deployment-wide limits this sidecar may
// admit (issue 17): a tenant's limit and its tenant+class limits, and the
// limit of a client whose limit.scope is global, are the policy's rate,
// burst and concurrency cap times the share. Whoever watches the other
// sidecars (policy/etcdsync, wired by the sidecar command) computes them
// from the published demand and pushes them with Server.SetShares; the
// data plane itself never waits on the network.
type Shares struct {
	Tenants map[string]float64 // by tenant id
	Clients map[string]float64 // by client id (limit.scope global)
	Default float64            // the share of a tenant or client the maps lack; 0 or above 1 means 1
}

// shareQuantum is the resolution of a share: 1/shareQuantum of the global
// rate. A share is rounded to it, so a limit (and its buckets' unit)
// changes only when the share moves by at least 0.1%.
const shareQuantum = 1000

// quantum returns f in units of 1/shareQuantum, from 1 to shareQuantum.
func quantum(f float64) int64 {
	if f <= 0 || f >= 1 || math.IsNaN(f) {
		return shareQuantum
	}
	return max(1, int64(math.Round(f*shareQuantum)))
}

// quantized is a Shares rounded by quantum: what the tables are built
// from, and what SetShares compares to skip a rebuild that changes
// nothing.
type quantized struct {
	tenants, clients map[string]int64
	def              int64
}

func (sh Shares) quantize() quantized {
	q := quantized{tenants: map[string]int64{}, clients: map[string]int64{}, def: quantum(sh.Default)}
	for id, f := range sh.Tenants {
		q.tenants[id] = quantum(f)
	}
	for id, f := range sh.Clients {
		q.clients[id] = quantum(f)
	}
	return q
}

func (q quantized) equal(o quantized) bool {
	return q.def == o.def && maps.Equal(q.tenants, o.tenants) && maps.Equal(q.clients, o.clients)
}

func (q quantized) of(m map[string]int64, id string) int64 {
	if v, ok := m[id]; ok {
		return v
	}
	if q.def == 0 {
		return shareQuantum // no shares pushed yet: the whole limit
	}
	return q.def
}

// shareState is the Server's side of global limits. The zero value is
// local mode's: no shares, no demand counted.
type shareState struct {
	swapMu sync.Mutex // serialises the writers of Server.prepared; guards the following fields
	shares quantized
}

// global is what a prepared table holds for global limits: the demand
// counters, which every copy of the tables for one snapshot shares, and
// the per-tenant limits the shares make of the class limits. It is
// immutable but for the counters.
type global struct {
	snap         *policy.Snapshot
	tenantDemand []counter // by Tenant.Index: requests past their client's bucket at step 6
	clientDemand []counter // by Client.Index
	nclass       int
	tenantClass  []limiter.Limit // by Tenant.Index*nclass + Class.Index
	inflight     []int           // the share of Class.MaxInFlight, same index
	since        int64           // limiter clock at which the shares came into force (Limit.Since)
}

// counter is a demand counter on its own cache line, so that two busy
// tenants do not contend.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

// count counts a request of the client at step 6 and returns the index of
// the tenant+class entries. Its tenant's demand is counted by limit once
// the client's bucket has let it through.
func (g *global) count(client, tenant, class int) int {
	g.clientDemand[client].n.Add(1)
	return tenant*g.nclass + class
}

// SetShares installs sh: the limit tables of the policy in force are
// rebuilt with it (off the request path; a request holds the tables it
// loaded) and every later policy is prepared with it. It does nothing
// unless Config.GlobalLimits is set, or when sh rounds to the shares in
// force.
func (s *Server) SetShares(sh Shares) {
	if !s.cfg.GlobalLimits {
		return
	}
	q := sh.quantize()
	s.share.swapMu.Lock()
	defer s.share.swapMu.Unlock()
	if q.equal(s.share.shares) {
		return
	}
	s.share.shares = q
	old := s.prepared.Load()
	if old == nil {
		return
	}
	p := *old
	s.applySharesLocked(&p, old.global)
	s.prepared.Store(&p)
}

// applySharesLocked builds p's tenant, tenant+class and global client
// limits from the shares in force; prev, the global state of tables of the
// same snapshot or of the one before, lends its demand counters.
func (s *Server) applySharesLocked(p *prepared, prev *global) {
	snap, q := p.snap, s.share.shares
	at := limiter.Now() // the shares' coming into force (Limit.Since)
	g := &global{snap: snap, nclass: len(snap.Classes), since: at}
	g.tenantDemand, g.clientDemand = demandCounters(snap, prev)
	p.tenantLimit = make([]limiter.Limit, len(snap.TenantList))
	for _, t := range snap.TenantList {
		f := q.of(q.tenants, t.ID)
		p.tenantLimit[t.Index] = shareLimit(t.Limit, f, at)
		for _, c := range snap.Classes {
			g.tenantClass = append(g.tenantClass, shareLimit(c.Limit, f, at))
			g.inflight = append(g.inflight, shareCap(c.MaxInFlight, f))
		}
	}
	p.clientLimit = make([]limiter.Limit, len(snap.ClientList))
	for _, c := range snap.ClientList {
		f := int64(shareQuantum)
		if c.Global {
			f = q.of(q.clients, c.ID)
		}
		p.clientLimit[c.Index] = shareLimit(c.Limit, f, at)
	}
	p.global = g
}

// demandCounters returns the demand counters of p's snapshot: prev's when
// prev counts for the same snapshot, else new ones that start from prev's
// counts by id, so a policy push does not lose the demand counted so far.
func demandCounters(snap *policy.Snapshot, prev *global) ([]counter, []counter) {
	if prev != nil && prev.snap == snap {
		return prev.tenantDemand, prev.clientDemand
	}
	tenants, clients := make([]counter, len(snap.TenantList)), make([]counter, len(snap.ClientList))
	if prev != nil {
		for _, t := range snap.TenantList {
			if o := prev.snap.Tenants[t.ID]; o != nil {
				tenants[t.Index].n.Store(prev.tenantDemand[o.Index].n.Load())
			}
		}
		for _, c := range snap.ClientList {
			if o := prev.snap.Clients[c.ID]; o != nil {
				clients[c.Index].n.Store(prev.clientDemand[o.Index].n.Load())
			}
		}
	}
	return tenants, clients
}

// shareLimit returns the limiter Limit of f/shareQuantum of r, in force
// since at: the rate exactly (events*f per per*shareQuantum, which
// NewLimit reduces), the burst rounded, at least 1, so the bursts of the
// sidecars add up to about the policy's burst.
func shareLimit(r policy.Rate, f, at int64) limiter.Limit {
	if r.IsZero() || f >= shareQuantum {
		return toLimit(r, at)
	}
	burst := max(1, (r.Burst*f+shareQuantum/2)/shareQuantum)
	return limiter.NewLimit(r.Events*f, r.Per*shareQuantum, burst).Since(at)
}

// shareCap returns f/shareQuantum of a concurrency cap, rounded, at least
// 1 (a cap of 0 means none): with more sidecars than the cap, the
// deployment admits one request per sidecar.
func shareCap(limit int, f int64) int {
	if limit == 0 || f >= shareQuantum {
		return limit
	}
	return max(1, int((int64(limit)*f+shareQuantum/2)/shareQuantum))
}

// Demand calls fn for every tenant and every client whose limit is global
// with the requests it has brought to step 6 (the limits) so far, counted
// whatever the decision, except that a request its client's bucket refused
// is no demand of its tenant; a sidecar publishes the difference between two
// calls as its demand. The counts carry over policy swaps by id. Demand
// calls nothing unless Config.GlobalLimits is set.
func (s *Server) Demand(fn func(tenant bool, id string, n uint64)) {
	p := s.prepared.Load()
	if p == nil || p.global == nil {
		return
	}
	g := p.global
	for _, t := range g.snap.TenantList {
		if n := g.tenantDemand[t.Index].n.Load(); n > 0 {
			fn(true, t.ID, n)
		}
	}
	for _, c := range g.snap.ClientList {
		if n := g.clientDemand[c.Index].n.Load(); n > 0 && c.Global {
			fn(false, c.ID, n)
		}
	}
}
