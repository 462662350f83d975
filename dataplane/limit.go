package dataplane

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// limit, step 6 of the request path, takes one token from the client,
// tenant and tenant+class buckets, all or nothing, then a concurrency slot
// for capped classes; a concurrency denial refunds the tokens. The client
// bucket is one per client whatever credential it presents (its API keys
// and its tokens share clients[].limit), so holding two kinds of
// credential does not double a client's burst. With global limits (etcd
// mode, global.go) the request is counted as its tenant's demand and the
// limits are this sidecar's share of the deployment's, read from tables
// built when the share was pushed. A request its client's own bucket
// refuses is its client's demand, not its tenant's: a client flooding one
// sidecar past its own limit would otherwise pull its tenant's limit
// there, away from the tenant's other clients.
func (s *Server) limit(x *exchange) audit.Decision {
	p, class, tenant := x.prep, x.route.Class, x.client.Tenant
	classLimit, maxInFlight, since := &p.classLimit[class.Index], class.MaxInFlight, p.since
	g := p.global
	if g != nil { // global limits: this sidecar's share (global.go)
		i := g.count(x.client.Index, tenant.Index, class.Index)
		classLimit, maxInFlight, since = &g.tenantClass[i], g.inflight[i], g.since
	}
	x.takes[0] = limiter.Take{Key: x.client.LimitKey, Limit: &p.clientLimit[x.client.Index]}
	x.takes[1] = limiter.Take{Key: tenant.LimitKey, Limit: &p.tenantLimit[tenant.Index]}
	x.takes[2] = limiter.Take{Key: tenant.ClassKey[class.Index], Limit: classLimit}
	now := x.mono
	which := s.buckets.TakeAllTo(x.takes[:], now, &x.limited) // x.limited is read only when which >= 0
	if g != nil && which != 0 {
		g.tenantDemand[tenant.Index].n.Add(1) // it got past its client's bucket
	}
	if which >= 0 {
		x.which = which
		x.rec.Limit = takeLimits[which]
		s.metrics.limited[which].Add(1)
		return audit.RateLimited
	}
	if class.MaxInFlight == 0 {
		return s.limitTenant(x, now)
	}
	slot := tenant.ClassKey[class.Index]
	// The cap's since keeps a request still holding the tables before a
	// push from setting the old cap back (TestStaleSnapshotCapIgnored).
	if !s.inflight.Acquire(slot, maxInFlight, since, class.Queue, class.MaxWait) {
		s.refund(x, now)
		s.metrics.limited[3].Add(1)
		x.rec.Limit = audit.LimitConcurrency
		return audit.ConcurrencyLimited
	}
	// Its tenant's in-flight slot too: a class's cap bounds the class, not
	// the tenant, and a tenant holding its default cap in the other
	// classes and a capped class's slots besides held the whole upstream
	// pool (TestCappedClassCannotTakeThePoolBeyondTheTenantCap). The
	// class slot, held, is freed when the request settles.
	x.slot, x.hasSlot = slot, true
	return s.limitTenant(x, now)
}

// limitTenant, step 6 after the buckets (and a capped class's slot),
// takes one of the in-flight slots its tenant has in every class
// (Config.TenantMaxInFlight, half of the upstream pool unless set), or
// refuses the request (429 concurrency_limited, limit tenant_in_flight)
// and refunds its tokens. Every request in flight holds at most one
// upstream connection, and a tenant without a cap in the policy filled
// the whole pool: every other tenant's requests waited for a connection
// and were refused when the wait ran out. There is no queue, as for
// public routes: a waiting request would hold its client connection and
// goroutine. The count outlives policy swaps (tenantFlights); the slot
// is freed when the request settles (handler.go), after a streamed body
// too.
func (s *Server) limitTenant(x *exchange, now int64) audit.Decision {
	n := x.prep.tenantFlight[x.client.Tenant.Index]
	if n.Add(1) > int64(s.cfg.TenantMaxInFlight) {
		n.Add(-1)
		s.refund(x, now)
		s.metrics.limited[5].Add(1)
		x.rec.Limit = audit.LimitTenantInFlight
		return audit.ConcurrencyLimited
	}
	x.tenantSlot = n
	return audit.Allowed
}

// tenantFlights returns the in-flight counts of snap's tenants, whose
// metric cells are cells, by Tenant.Index: the count in the tenant's own
// cell, which outlives the snapshots. The tenants past maxTenantCells
// share one cell for their metrics, not a count: one of them holding its
// slots refused all the others (TestTenantInFlightPastTheMetricCells).
// Each gets a count of its own, kept while a policy names it. The writer
// calls it, under share.swapMu.
func (s *Server) tenantFlights(snap *policy.Snapshot, cells []*tenantCell) []*atomic.Int64 {
	out := make([]*atomic.Int64, len(cells))
	kept := map[string]*atomic.Int64{}
	for i, c := range cells {
		if c != &s.metrics.tenants.overflow {
			out[i] = &c.inFlight
			continue
		}
		id := snap.TenantList[i].ID
		n := s.overflowFlight[id]
		if n == nil {
			n = new(atomic.Int64)
		}
		kept[id], out[i] = n, n
	}
	s.overflowFlight = kept
	return out
}

// refund gives back the tokens limit took for x at now, when an in-flight
// cap refused it after its buckets admitted it.
func (s *Server) refund(x *exchange, now int64) {
	for _, t := range x.takes {
		s.buckets.RefundAt(t.Key, *t.Limit, 1, now)
	}
}

// limitPublic, step 6 for a public route, takes one of the in-flight
// slots all public routes share (prepared.publicMax), or refuses the
// request (503 public_limited). Every request in flight holds at most one
// upstream connection, so public routes hold at most publicMax of the
// pool and parties without a credential cannot take every tenant's
// capacity: a slow public endpoint held the whole pool for up to the
// upstream timeout, and authenticated requests waited behind it. The
// slot is freed when the request settles (handler.go), after a streamed
// body too. There is no queue: a waiting request would hold its client
// connection and goroutine, which is what the cap is against.
func (s *Server) limitPublic(x *exchange) audit.Decision {
	if s.public.Add(1) > x.prep.publicMax {
		s.public.Add(-1)
		s.metrics.limited[4].Add(1)
		return audit.PublicLimited
	}
	x.public = true
	return audit.Allowed
}

// publicMax is the cap of requests of public routes in flight for snap:
// public_routes.max_in_flight, else a quarter of the upstream
// connections (at least 1), which leaves most of them to authenticated
// traffic.
func (s *Server) publicMax(snap *policy.Snapshot) int64 {
	if snap.PublicInFlight > 0 {
		return int64(snap.PublicInFlight)
	}
	return int64(max(s.cfg.MaxUpstreamConn/4, 1))
}

// takeLimits is the audit record's Limit of each take of limit, by its
// index: the order of limiterScopes, which names them in the metrics.
var takeLimits = [3]audit.Limit{audit.LimitKey, audit.LimitTenant, audit.LimitClass}

// rateLimitHeaders writes Retry-After and the IETF RateLimit-Policy and
// RateLimit fields (draft-ietf-httpapi-ratelimit-headers) for the bucket
// that denied.
func (s *Server) rateLimitHeaders(r *fasthttp.Response, x *exchange) {
	secs := retryAfter(r, x)
	name, hdr := "client", x.prep.clientHdr[x.client.Index]
	switch x.which {
	case 1:
		name, hdr = "tenant", x.prep.tenantHdr[x.client.Tenant.Index]
	case 2:
		name, hdr = "class", x.prep.classHdr[x.route.Class.Index]
	}
	r.Header.Set("RateLimit-Policy", hdr)
	x.buf = append(append(append(x.buf[:0], '"'), name...), `";r=`...)
	x.buf = strconv.AppendInt(x.buf, max(x.limited.Remaining, 0), 10)
	x.buf = append(x.buf, ";t="...)
	x.buf = strconv.AppendInt(x.buf, secs, 10)
	r.Header.SetBytesV("RateLimit", x.buf)
}

// retryAfter sets Retry-After to x.limited's RetryAfter in whole seconds,
// rounded up, at least 1, and returns it.
func retryAfter(r *fasthttp.Response, x *exchange) int64 {
	secs := max(int64((x.limited.RetryAfter+time.Second-1)/time.Second), 1)
	x.buf = strconv.AppendInt(x.buf[:0], secs, 10)
	r.Header.SetBytesV("Retry-After", x.buf)
	return secs
}

// queueRetryAfter is the Retry-After, in whole seconds, of a request the
// concurrency cap of class c refused (its queue full, or its wait over):
// the class's max_wait rounded up, at least 1 s. A slot frees when a
// request in flight ends, which a queued request waits for up to max_wait,
// so a client retrying sooner would most likely be refused again (issue 17:
// Retry-After guidance instead of a retry storm).
func queueRetryAfter(c *policy.Class) string {
	secs := (c.MaxWait + time.Second - 1) / time.Second
	return strconv.FormatInt(max(int64(secs), 1), 10)
}
