package etcdsync

import (
	"cmp"
	"math"
	"slices"

	"github.com/portcullis/portcullis/policy"
)

// MaxDemandBytes and MaxDemandEntries bound a demand record a Sharer
// reads; a larger one is ignored (no demand), counted (RefusedDemand) and
// logged once. Every sidecar shares one etcd user, so a stolen sidecar
// certificate could otherwise put 1.5 MB records (etcd's request limit)
// that every sidecar decodes on each change and walks on every
// recompute. A record of 1000 busy tenants with 63-character ids, the
// longest the policy allows, is 73-84 KB (TestDemandRecordOfAThousandFits).
const (
	MaxDemandBytes   = 128 << 10
	MaxDemandEntries = 1024
)

// capped returns d as published: at most MaxDemandEntries rates (the
// busiest), each rounded to a thousandth, so the record stays within
// MaxDemandBytes at MaxDemandEntries ids of the longest length.
func (d DemandRecord) capped() DemandRecord {
	type rate struct {
		tenant bool
		id     string
		r      float64
	}
	all := make([]rate, 0, len(d.Tenants)+len(d.Clients))
	for id, r := range d.Tenants {
		all = append(all, rate{true, id, r})
	}
	for id, r := range d.Clients {
		all = append(all, rate{false, id, r})
	}
	if len(all) > MaxDemandEntries {
		slices.SortFunc(all, func(a, b rate) int { return cmp.Compare(b.r, a.r) })
		all = all[:MaxDemandEntries]
	}
	var out DemandRecord
	for _, e := range all {
		m := &out.Tenants
		if !e.tenant {
			m = &out.Clients
		}
		if *m == nil {
			*m = map[string]float64{}
		}
		(*m)[e.id] = max(math.Round(e.r*1000)/1000, 0.001)
	}
	return out
}

// oversized reports whether a demand record, of n bytes, or decoded into
// d, is larger than a Sharer reads.
func oversized(n int, d *DemandRecord) bool {
	return n > MaxDemandBytes || (d != nil && len(d.Tenants)+len(d.Clients) > MaxDemandEntries)
}

// ceiled returns rate r of id as it counts (clamped to Ceiling), and
// false when the policy in force has no global limit for id.
func (s *Sharer) ceiled(tenant bool, id string, r float64) (float64, bool) {
	if s.cfg.Ceiling == nil {
		return r, true
	}
	c := s.cfg.Ceiling(tenant, id)
	return min(r, c), c > 0
}

// ceiling returns the ceiling of id (+Inf without ShareConfig.Ceiling).
func (s *Sharer) ceiling(tenant bool, id string) float64 {
	if s.cfg.Ceiling == nil {
		return math.Inf(1)
	}
	return s.cfg.Ceiling(tenant, id)
}

// DemandCeiling returns the most requests per second a sidecar's demand
// for a tenant (tenant true) or global client of snap counts for: the
// highest of its limits in events per second or its burst (tenant and
// tenant+class limits for a tenant), what one sidecar admits at most
// in a second when it holds the whole share. It returns 0 for an id snap
// has no global limit for (a tenant without limits, a client not
// limit.scope global, an unknown id, or a nil snap).
func DemandCeiling(snap *policy.Snapshot, tenant bool, id string) float64 {
	if snap == nil {
		return 0
	}
	if !tenant {
		c := snap.Clients[id]
		if c == nil || !c.Global {
			return 0
		}
		return perSecond(c.Limit)
	}
	t := snap.Tenants[id]
	if t == nil {
		return 0
	}
	top := perSecond(t.Limit)
	for _, c := range snap.Classes {
		top = max(top, perSecond(c.Limit))
	}
	return top
}

// perSecond returns the most of r one second admits: its rate or its
// burst, whichever is more (0 for no limit).
func perSecond(r policy.Rate) float64 {
	if r.IsZero() || r.Per <= 0 {
		return 0
	}
	return max(float64(r.Events)/r.Per.Seconds(), float64(r.Burst))
}
