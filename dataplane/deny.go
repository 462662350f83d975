package dataplane

import (
	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// denial is a pre-rendered answer: status and the JSON error body around
// the request id, `{"error":"...","message":"...","request_id":"` + id + `"}`.
type denial struct {
	status int
	head   []byte
}

var denialTail = []byte(`"}`)

var denials = func() (t [audit.NumDecisions]denial) {
	set := func(d audit.Decision, status int, msg string) {
		t[d] = denial{status: status, head: []byte(`{"error":"` + d.String() + `","message":"` + msg + `","request_id":"`)}
	}
	set(audit.Allowed, 200, "allowed")
	set(audit.BadRequest, 400, "the request is malformed or ambiguous")
	set(audit.HeaderTooLarge, 431, "the request headers are too large")
	set(audit.NoRoute, 404, "no such endpoint")
	set(audit.BodyTooLarge, 413, "the request body is larger than this endpoint accepts")
	set(audit.Unauthenticated, 401, "a valid API key or access token is required")
	set(audit.Suspended, 403, "this client is suspended")
	set(audit.Forbidden, 403, "the credential lacks a scope this endpoint requires")
	set(audit.NetworkDenied, 403, "this endpoint is not reachable from your network")
	set(audit.TenantMismatch, 403, "this path names a tenant other than the credential's")
	set(audit.MethodDenied, 403, "this endpoint does not accept this authentication method")
	set(audit.TokenTooOld, 401, "this endpoint needs a more recently issued token")
	set(audit.RateLimited, 429, "rate limit exceeded; retry after the time in Retry-After")
	set(audit.ConcurrencyLimited, 429, "too many concurrent requests for this tenant; retry after the time in Retry-After")
	set(audit.PolicyStale, 503, "the policy is stale; try again shortly")
	set(audit.AuditUnavailable, 503, "the audit log is unavailable; try again shortly")
	set(audit.UpstreamError, 502, "the service is unavailable")
	set(audit.UpstreamTimeout, 504, "the service did not answer in time")
	set(audit.InternalError, 500, "internal error")
	set(audit.NotReady, 503, "the sidecar is not ready")
	set(audit.ResponseTooLarge, 502, "the service's response is larger than this endpoint allows")
	set(audit.ApprovalRequired, 403, "this endpoint needs an approval granted by a second person for this client and endpoint: send its id in X-Portcullis-Approval (portcullis approvals request)")
	set(audit.KeyExpiredByPolicy, 401, "this API key is older than the credential policy allows; rotate it")
	set(audit.UpstreamSaturated, 503, "every connection to the service is busy; retry after the time in Retry-After")
	set(audit.PublicLimited, 503, "too many requests without a credential are in flight; retry after the time in Retry-After")
	set(audit.ExpectationFailed, 417, "the sidecar meets no expectation but one Expect: 100-continue")
	set(audit.TokenFailuresLimited, 429, "too many access tokens from this address failed verification; retry after the time in Retry-After")
	// A revoked key is answered as a wrong one, so that a guesser learns
	// nothing; only the audit record tells them apart.
	t[audit.KeyRevoked] = t[audit.Unauthenticated]
	t[audit.CertRevoked] = t[audit.Unauthenticated]
	t[audit.CertCRLExpired] = t[audit.Unauthenticated] // recorded at the handshake only (crl_audit.go)
	return t
}()

// deny answers the request itself with the decision's status and body.
func (s *Server) deny(ctx *fasthttp.RequestCtx, x *exchange, d audit.Decision) {
	s.denyAs(ctx, x, d, nil)
}

// denyAs is deny with the head of the body given (the 400 naming a
// refused cookie, refusecookie.go); nil: the decision's.
func (s *Server) denyAs(ctx *fasthttp.RequestCtx, x *exchange, d audit.Decision, head []byte) {
	x.rec.Decision = d
	r := &ctx.Response
	r.Reset()
	den := &denials[d]
	r.SetStatusCode(den.status)
	r.Header.SetContentType("application/json")
	r.Header.SetBytesV("X-Request-ID", x.reqID)
	switch {
	case head != nil:
		r.AppendBody(head)
	case d == audit.BadRequest:
		r.AppendBody(cookieDenial(ctx, x, den.head)) // refusecookie.go: a refused cookie named, never its value
	default:
		r.AppendBody(den.head)
	}
	r.AppendBody(x.reqID)
	r.AppendBody(denialTail)
	switch d {
	case audit.Unauthenticated, audit.KeyRevoked, audit.CertRevoked, audit.TokenTooOld, audit.KeyExpiredByPolicy:
		r.Header.Set("WWW-Authenticate", `Bearer realm="portcullis"`)
	case audit.RateLimited:
		s.rateLimitHeaders(r, x)
	case audit.TokenFailuresLimited:
		retryAfter(r, x)
	case audit.ConcurrencyLimited:
		if x.rec.Limit == audit.LimitTenantInFlight { // no queue: a capped class's max_wait is not its wait
			r.Header.Set("Retry-After", "1")
			break
		}
		r.Header.Set("Retry-After", x.prep.classRetry[x.route.Class.Index]) // limit.go
	case audit.PolicyStale, audit.AuditUnavailable, audit.NotReady, audit.PublicLimited, audit.UpstreamSaturated:
		r.Header.Set("Retry-After", "1")
	}
	if d == audit.BadRequest || d == audit.HeaderTooLarge || d == audit.ExpectationFailed {
		ctx.SetConnectionClose()
	}
}
