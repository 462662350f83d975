package etcdsync

import (
	"time"

	"github.com/portcullis/portcullis/policy"
)

// step takes own, the demand just sampled here, and applies the shares.
func (s *Sharer) step(own DemandRecord, now time.Time) {
	s.calc.Lock()
	defer s.calc.Unlock()
	s.own, s.ready = own, true
	s.markSince(own, now)
	s.applyLocked(now)
}

// recompute applies the shares again after a peer's record changed, so
// this sidecar follows a peer's new demand at once rather than at its
// next tick. Its own demand is sampled again (over the part of the
// interval gone, when that is long enough to mean something): traffic
// that began on every sidecar at once would otherwise show here as the
// peer's alone, and this sidecar would fall to the floor until its tick.
func (s *Sharer) recompute() {
	s.calc.Lock()
	defer s.calc.Unlock()
	if !s.ready {
		return
	}
	now := time.Now()
	if now.Sub(s.prevAt) >= s.cfg.Interval/4 {
		s.own = s.sampleLocked(now, false)
		s.markSince(s.own, now)
	}
	s.applyLocked(now)
}

// markSince notes when demand here began for each id of own, and forgets
// the ids without demand.
func (s *Sharer) markSince(own DemandRecord, now time.Time) {
	active := map[string]bool{}
	for id := range own.Tenants {
		active["t/"+id] = true
	}
	for id := range own.Clients {
		active["c/"+id] = true
	}
	for key := range s.since {
		if !active[key] {
			delete(s.since, key)
		}
	}
	for key := range active {
		if _, ok := s.since[key]; !ok {
			s.since[key] = now
		}
	}
}

// applyLocked computes the shares from the demand here and the peers'
// records and applies them; while etcd is silent, it applies 1/(the last
// known N).
func (s *Sharer) applyLocked(now time.Time) {
	bound := s.maxMembers()
	if now.UnixNano()-s.okAt.Load() > int64(s.cfg.Stale) && s.lastN > 0 {
		if !s.fallback.Swap(true) {
			s.cfg.Logger.Warn().Int("members", s.lastN).Msg("etcd unreachable: global limits fall back to 1/members")
		}
		s.setCurrent(nil)
		s.cfg.Apply(Shares{Default: 1 / float64(min(s.lastN, bound))})
		return
	}
	if s.fallback.Swap(false) {
		s.cfg.Logger.Info().Msg("etcd reachable again: global limits follow demand")
	}
	others := s.peerDemand()
	n := len(others) + 1
	s.lastN = n
	s.members.Store(int64(n))
	s.noteBound(n, bound)
	sh := Shares{
		Tenants: s.shareMap("t/", s.own.Tenants, others, func(d DemandRecord) map[string]float64 { return d.Tenants }, n, bound, now),
		Clients: s.shareMap("c/", s.own.Clients, others, func(d DemandRecord) map[string]float64 { return d.Clients }, n, bound, now),
		Default: 1 / float64(min(n, bound)),
	}
	s.remember(sh)
	s.setCurrent(sh.Tenants)
	s.cfg.Apply(sh)
}

// maxMembers returns ShareConfig.MaxMembers, or its default.
func (s *Sharer) maxMembers() int {
	if s.cfg.MaxMembers != nil {
		if m := s.cfg.MaxMembers(); m >= 1 {
			return m
		}
	}
	return policy.DefaultGlobalMaxSidecars
}

// noteBound records n members against the bound, and logs when n first
// goes above it and when it is back within.
func (s *Sharer) noteBound(n, bound int) {
	s.bound.Store(int64(bound))
	over := n > bound
	if s.over.Swap(over) == over {
		return
	}
	if over {
		s.cfg.Logger.Warn().Int("members", n).Int("max_sidecars", bound).Msg("more live members than global_limits.max_sidecars: each sidecar's share of a global limit is as among max_sidecars, so the deployment may admit more than a limit; fake member records (a stolen sidecar certificate) or more replicas than max_sidecars")
	} else {
		s.cfg.Logger.Info().Int("members", n).Int("max_sidecars", bound).Msg("live members within global_limits.max_sidecars again")
	}
}

// peerDemand returns the demand record of every live peer (an empty one
// for a peer with no traffic).
func (s *Sharer) peerDemand() []peerDemand {
	s.mu.Lock()
	defer s.mu.Unlock()
	others := make([]peerDemand, 0, len(s.peers))
	for pod := range s.peers {
		if pod != s.cfg.Pod {
			others = append(others, s.demand[pod])
		}
	}
	return others
}

// shareMap returns the share of every id with demand here or at a peer.
// Each rate counts up to its Ceiling, here as at the peers, so that every
// sidecar sums the same totals and the shares still sum to 1; a peer's
// rate for an id without a global limit here is left out. Of n members,
// N = min(n, bound) count, in the floor and the equal share, and the
// peers' rates for an id count up to (N-1) times its ceiling together,
// so that members beyond the bound take nothing more from this sidecar;
// with at most bound members (each rate at most the ceiling) neither
// changes anything.
//
// An id whose demand here is new keeps at most the share it had (or the
// equal share, if more) until every peer has published since about when
// the demand began here (for two intervals at most: a peer without
// traffic publishes nothing). Peers
// whose traffic started at the same time have not published yet, and
// each sidecar would otherwise see itself alone and take most of the
// limit for an interval (TestNoisyNeighbour saw 30/s and 24/s of a 20/s
// limit in the second and third seconds).
func (s *Sharer) shareMap(kind string, own map[string]float64, others []peerDemand, of func(DemandRecord) map[string]float64, n, bound int, now time.Time) map[string]float64 {
	tenant := kind == "t/"
	peers := map[string]float64{}
	mine := make(map[string]float64, len(own))
	for id, r := range own {
		r, _ = s.ceiled(tenant, id, r)
		mine[id] = r
		peers[id] += 0 // an id with demand here only has a share too
	}
	for _, d := range others {
		for id, r := range of(d.DemandRecord) {
			if r, ok := s.ceiled(tenant, id, r); ok {
				peers[id] += r
			}
		}
	}
	n = min(n, bound)
	out := make(map[string]float64, len(peers))
	for id, p := range peers {
		if n > 1 {
			p = min(p, float64(n-1)*s.ceiling(tenant, id))
		}
		f := Share(mine[id], mine[id]+p, n, s.cfg.Floor)
		if since, ok := s.since[kind+id]; ok && s.unheard(others, since, now) {
			f = min(f, max(s.last[kind+id], 1/float64(n)))
		}
		out[id] = f
	}
	return out
}

// unheard reports whether a peer has not published since the time since,
// less than two intervals ago.
func (s *Sharer) unheard(others []peerDemand, since, now time.Time) bool {
	if now.Sub(since) >= 2*s.cfg.Interval {
		return false
	}
	for _, d := range others {
		// A record from the last half interval counts: it covers most of
		// the time since the demand here began.
		if d.at.Before(since.Add(-s.cfg.Interval / 2)) {
			return true
		}
	}
	return false
}

// remember keeps the shares applied, for shareMap's next call.
func (s *Sharer) remember(sh Shares) {
	clear(s.last)
	for id, f := range sh.Tenants {
		s.last["t/"+id] = f
	}
	for id, f := range sh.Clients {
		s.last["c/"+id] = f
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
