package dataplane

import (
	"math"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/limiter"
	"github.com/valyala/fasthttp"
)

// recheck judges an admitted request again at now (unix nanoseconds; mono
// the same instant on the limiter clock), the
// end of a wait: for a concurrency slot (its class's max_wait, up to 5
// minutes), and with an upstream connection in hand (the pool's cap, up to the upstream timeout, and a
// dial), before a byte is sent (sendable). A request whose tables were
// replaced meanwhile, or whose credential lapsed, is decided again
// (decideAgain); any other costs a pointer compare, lapsed's compares of
// its credential's bounds and two flags. A key revoked or a token
// expired while its request waited for an upstream connection, or a
// token expired in the queue, was served
// (TestRevocationReachesRequestsWaitingForTheUpstream,
// TestCredentialExpiredWhileWaitingRefused).
func (s *Server) recheck(ctx *fasthttp.RequestCtx, x *exchange, now, mono int64) audit.Decision {
	x.at = now
	// What refuses a request on arrival whatever its credential, at the
	// end of its wait too: a sidecar deaf to etcd past staleness.max_age
	// for a credentialed request, strict audit with the sink not
	// accepting (TestPolicyStaleWhileWaitingRefused,
	// TestAuditUnavailableWhileWaitingRefused).
	switch {
	case !x.route.Public && s.policyStale(x, now, mono):
		return audit.PolicyStale
	case s.unrecorded(x):
		return audit.AuditUnavailable
	}
	if s.prepared.Load() == x.prep && !s.lapsed(x) && !s.tooOld(x) {
		return audit.Allowed
	}
	return s.decideAgain(ctx, x)
}

// tooOld reports whether x's credential, admitted on a class with a
// max_token_age, has grown older than it by x.at: authorize's check,
// again (TestCredentialTooOldWhileWaitingRefused). Other classes pay a
// load and a compare.
func (s *Server) tooOld(x *exchange) bool {
	c := x.route.Class
	if !c.Privileged || c.MaxTokenAge <= 0 {
		return false
	}
	age, known := s.credentialAge(x)
	return !known || age > c.MaxTokenAge
}

// decideAgain ends step 6 for a request whose tables were replaced while
// it was decided, or whose credential lapsed by x.at: it takes steps 2 to
// 5 again (the route, its body rules, the credential and the scopes) on
// the tables in force now, at x.at. Such a request may have waited up to
// its class's max_wait (5 minutes at most) for a concurrency slot, up to
// a JWKS refetch's wait, or up to the upstream timeout for an upstream
// connection, and a revocation or a suspension etcd delivered meanwhile
// (policy.Amend, in milliseconds) must hold for it as for every request
// after it; it went on with the decision it got on arrival
// (TestRevocationReachesQueuedRequests). So must the end of its
// credential: a token or key valid on arrival and expired by the end of
// the wait is refused as an expired one is on arrival. The arrival's
// time, the tokens its buckets gave and the slot it holds stand. New
// limit tables alone (the global shares of global.go) change nothing it
// was decided on.
func (s *Server) decideAgain(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	p := s.prepared.Load()
	if p.snap == x.snap && p.verifier == x.prep.verifier && !s.lapsed(x) && !s.tooOld(x) {
		return audit.Allowed
	}
	x.prep, x.snap = p, p.snap
	x.client, x.key, x.claims, x.scopes, x.method = nil, nil, nil, 0, audit.AuthNone
	h := &ctx.Request.Header
	// The new tables' tenant_headers: a header they name was not looked
	// for on arrival (tenantheader.go).
	x.hdr.named, x.hdr.namedHdr = nil, false
	if !policyHeaders(h.RawHeaders(), x.snap, &x.hdr) {
		return audit.BadRequest
	}
	if x.route = x.snap.Match(h.Method(), x.path); x.route == nil {
		return audit.NoRoute
	}
	if x.bodyIn {
		if d := bodySize(ctx, x); d != audit.Allowed {
			return d
		}
		if contentRefused(&ctx.Request, x.route) {
			return audit.BadRequest
		}
	}
	// A route that binds {tenant} now: a tenant parameter or cookie, or
	// one the policy names, was not looked for on arrival (tenantparam.go,
	// tenantcookie.go, tenantnames.go). The query is read from the target
	// again, not x.query: at the pool, prepareRequest has written the
	// forwarded target over the bytes x.query aliases.
	if x.route.TenantSeg != 0 {
		_, q, _ := splitTarget(h.RequestURI())
		if x.hdr.cookie && tenantCookies(h.RawHeaders()) || overrideParam(&ctx.Request, q, x.bodyIn, x.hdr.coded, true) ||
			tenantNamesRefused(x.snap, &ctx.Request, q, h.RawHeaders(), x.bodyIn, x.hdr.cookie) {
			return audit.BadRequest
		}
	}
	if x.route.Public {
		// A public route (now) takes no credential; the request holds
		// the slot it took, a public one or its tenant's. It has no
		// tenant a tenant header could name (tenantheader.go).
		if !tenantHeaderOK(x) {
			return audit.BadRequest
		}
		return audit.Allowed
	}
	if d := s.authenticate(x); d != audit.Allowed {
		return d
	}
	return s.authorize(x)
}

// lapsed reports whether the credential x was admitted with may no
// longer be valid at x.at, by the bounds authenticate checks (the same
// comparisons, so none lapses here that authenticate would pass): a
// token's exp with its issuer's clock_skew, or its signing key gone from
// the issuer's refreshed JWKS (TestTokenKeyDroppedWhileWaitingRefused); a
// key's not_after and max_key_age; a client certificate's end, or its
// revocation by a CRL or client CA reload since the request began
// (TestCertificateRevokedWhileWaitingRefused). None needs the tables, so
// a wait that changed nothing costs a few compares.
func (s *Server) lapsed(x *exchange) bool {
	switch {
	case x.claims != nil: // jwt.checkTimes: expired once now-skew, in seconds, reaches exp
		c := x.claims
		return c.Expiry < maxExpiry && x.at >= c.Expiry*int64(time.Second)+int64(c.Issuer.ClockSkew) ||
			!x.prep.verifier.Current(c, time.Unix(0, x.at))
	case x.key != nil: // policy.Key.InWindow and AgedAt
		k := x.key
		return k.NotAfter != 0 && x.at >= k.NotAfter || k.AgedAt(s.keyClock(x))
	case x.method == audit.AuthMTLS && x.client != nil: // authenticateMTLS
		if c := x.conn; c != nil {
			// A client CA taken out, or a CRL revoking the certificate,
			// since the request began, as begin checks for each request.
			s.certs.recheck(c, x.mono)
			x.certFrom(c)
		}
		return len(x.certIDs) == 0 || s.keyClock(x) >= x.certEnd
	}
	return false
}

// maxExpiry is the largest exp, in unix seconds, whose end lapsed can
// count in nanoseconds (year 2262, with a day for the skew); a later one
// does not end while a request waits.
const maxExpiry = math.MaxInt64/int64(time.Second) - 86400

// sendable is what roundTrip asks with an upstream connection in hand,
// before a byte of the request is written (forward.go): the request is
// judged again at at, when the connection was got (recheck). A request
// decided again is given what the new decision builds (identify). An
// approval its route requires is roundTrip's to spend, after this.
// Otherwise its answer is d, not Allowed, and nothing is sent.
func (s *Server) sendable(ctx *fasthttp.RequestCtx, x *exchange, at time.Time) audit.Decision {
	now := at.UnixNano()
	if s.clock.wall != nil {
		_, now = s.clock.now()
	}
	prep := x.prep
	if d := s.recheck(ctx, x, now, limiter.At(at)); d != audit.Allowed || x.prep == prep {
		return d
	}
	s.identify(&ctx.Request, x)
	return audit.Allowed
}
