package dataplane

import (
	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// decideAgain ends step 6 for a request whose tables were replaced while
// it was decided: it takes steps 2 to 5 again (the route, its body rules,
// the credential and the scopes) on the tables in force now. Such a
// request may have waited up to its class's max_wait (5 minutes at most)
// for a concurrency slot, or up to a JWKS refetch's wait, and a
// revocation or a suspension etcd delivered meanwhile (policy.Amend, in
// milliseconds) must hold for it as for every request after it; it went
// on with the decision it got on arrival
// (TestRevocationReachesQueuedRequests). The arrival's time, the tokens
// its buckets gave and the slot it holds stand. New limit tables alone
// (the global shares of global.go) change nothing it was decided on.
func (s *Server) decideAgain(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	p := s.prepared.Load()
	if p.snap == x.snap && p.verifier == x.prep.verifier {
		return audit.Allowed
	}
	x.prep, x.snap = p, p.snap
	x.client, x.key, x.claims, x.scopes, x.method = nil, nil, nil, 0, audit.AuthNone
	h := &ctx.Request.Header
	if x.route = x.snap.Match(h.Method(), x.path); x.route == nil {
		return audit.NoRoute
	}
	if hasBody(h) {
		if d := bodySize(ctx, x); d != audit.Allowed {
			return d
		}
		if contentRefused(&ctx.Request, x.route) {
			return audit.BadRequest
		}
	}
	if d := s.authenticate(x); d != audit.Allowed {
		return d
	}
	return s.authorize(x)
}
