package dataplane

import (
	"errors"
	"net/netip"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// preBodyFree is the largest request body read before the request's
// credential is checked. fasthttp allocates a body's whole declared
// Content-Length when the headers arrive, before the handler runs, so a
// larger body is read only for a request that has a route and, on a
// non-public route, a credential that verifies: a client without one
// costs the sidecar at most this much per connection, not the class limit.
const preBodyFree = 16 << 10

// refuseBody is the body limit that makes fasthttp refuse a declared body
// before reading or allocating it (ErrBodyTooLarge, headers kept), so that
// errorHandler answers it with bodyRefused.
const refuseBody = 1

// preBodyLimit returns the body limit for a request whose headers h
// declare cl bytes of body (-1: chunked), and whether the request was
// refused before its body: no route, a target that does not parse,
// content its route refuses (a GET's, HEAD's, DELETE's or OPTIONS'
// without allow_body: contentDeclared), or a non-public route and a
// credential that does not authenticate or that authorize refuses (the
// path's or a tenant header's tenant, scopes, a privileged class's
// rules) or, on a route requiring one, no approval. A refused
// chunked body is still read up to preBodyFree (fasthttp forgets the
// headers of a chunked body it refuses, so the handler answers it), a
// refused declared body not at all.
func (s *Server) preBodyLimit(d *prepared, h *fasthttp.RequestHeader, cl int64) (limit int64, refused bool) {
	refuse := int64(refuseBody)
	if cl == -1 {
		refuse = preBodyFree
	}
	var buf [256]byte
	path, _, ok := splitTarget(h.RequestURI())
	if !ok {
		return refuse, true
	}
	norm, ok := normalizePath(buf[:0], path)
	if !ok {
		return refuse, true
	}
	r := d.snap.Match(h.Method(), norm)
	switch {
	case r == nil || contentDeclared(h, r): // size.go
		return refuse, true
	case cl > r.Class.MaxBody || cl >= 0 && cl <= preBodyFree:
		return r.Class.MaxBody, false
	case r.Public:
		if !s.prePublic(d, h) {
			return refuse, true
		}
		return r.Class.MaxBody, false
	case !s.preAuthenticated(d, h, r, norm):
		return refuse, true
	}
	return r.Class.MaxBody, false
}

// preAuthenticated runs the handler's own credential check on headers h
// of a request to route r, on its normalised path, before the body is
// read: the same verification (cached API keys, the JWT verifier), then
// authorize itself (authorize.go: the tenant the path's {tenant} names,
// a tenant header, the route's scopes, a privileged class's allow_cidrs,
// auth_methods and max_token_age) and the approval check decide runs
// after it, on a pooled exchange, so it does not allocate. The limits
// and the concurrency slot, which spend a budget, are left to the
// handler. A refusal is answered as the handler answers it: a declared
// body's by bodyRefused, on the headers fasthttp keeps; a chunked one's
// past preBodyFree, its headers gone, by the decision marked on the
// connection (conn.refused, errorHandler), not 413.
//
// A request without an API key or token is authenticated by its
// connection's verified client certificate, as the handler does
// (tlsCert): fasthttp's hooks get the head, not the connection, but the
// head is the connection's RequestCtx's (connOfHeader). Such a request
// was let through unchecked on a listener verifying client certificates
// under a policy mapping them, so a certificate's upload naming another
// tenant, in its path or a tenant header, got its 100 Continue and had its
// body read, up to the class's limit, before the 403 or 400, and one with
// no credential at all before the 401 (review103,
// TestMTLSTenantRefusedBeforeBody).
func (s *Server) preAuthenticated(d *prepared, h *fasthttp.RequestHeader, r *policy.Route, path []byte) bool {
	x := s.pool.Get().(*exchange)
	x.prep, x.snap = d, d.snap
	x.mono, x.wall = s.clock.now()
	x.at = x.wall
	ok := scanHeaders(h.RawHeaders(), &x.hdr) && policyHeaders(h.RawHeaders(), d.snap, &x.hdr)
	if !ok {
		// A head the one pass refuses, a header of the policy's
		// refuse_headers, a cookie of its refuse_cookies
		// (refusecookie.go), or two tenant headers (tenantheader.go): 400
		// as in the handler's step 1. A chunked body past preBodyFree
		// behind a malformed head was answered 413, its headers gone
		// (read96, TestChunkedBodyBehindMalformedHeadIs400).
		headRefused(h, d, &x.hdr)
	}
	if ok {
		if x.peer, ok = s.headSource(h, x); !ok {
			// Refused as the handler refuses it, 400, whatever fasthttp
			// does with its body: a chunked one refused before it, past
			// preBodyFree, comes to errorHandler with its headers gone,
			// and was answered 413 body_too_large
			// (TestChunkedBodyBehindRefusedForwardedHeadersIs400).
			headRefused(h, d, &x.hdr)
		}
	}
	c := connOfHeader(h)
	if ok && c != nil && len(credential(&x.hdr)) == 0 {
		// The connection's client certificate, as begin takes it (conn.go).
		if c.tc != nil {
			s.tlsCert(c)
		}
		x.certFrom(c)
	}
	if ok {
		ok = s.authenticate(x) == audit.Allowed
	}
	if ok {
		// authorize itself, on the route and the path this check
		// normalised (copied into the exchange's own buffer, which the
		// pool keeps: no allocation), then the approval check the
		// handler runs after it, before the limits; none of them
		// changes any state. Each was checked only once the body was
		// in, up to the class's limit, and an Expect got its 100 first:
		// the path's tenant (403 tenant_mismatch, review97,
		// TestTenantPathRefusedBeforeBody), a tenant header (400,
		// TestTenantHeaderRefusedBeforeBody), and the route's scopes, a
		// privileged class's allow_cidrs, auth_methods and
		// max_token_age, a route's approval (prebody130,
		// TestScopeAndClassRulesRefusedBeforeBody).
		x.route = r
		x.path = append(x.path[:0], path...)
		dec := s.authorize(x)
		if dec == audit.Allowed && r.Approval != nil && !validApprovalID(x.hdr.approval) {
			dec = audit.ApprovalRequired // handler.go: decide
		}
		switch {
		case dec == audit.BadRequest: // a tenant header naming another tenant
			headRefused(h, d, &x.hdr)
		case dec != audit.Allowed && c != nil && c.refused == audit.Allowed:
			// A declared body's refusal is answered by bodyRefused,
			// which decides it again on the headers kept; a chunked
			// one's past preBodyFree has its headers gone, and the mark
			// answers it (errorHandler), with this decision, not 413.
			c.refused = dec
		}
		ok = dec == audit.Allowed
	}
	x.reset()
	s.pool.Put(x)
	return ok
}

// prePublic runs the handler's header checks that need no caller on
// headers h of a request to a public route, before its body is read: the
// one pass (scanHeaders), the policy's refuse_headers, refuse_cookies and tenant_headers,
// the forwarded headers behind a trusted proxy (headSource), and no tenant
// header at all (a public route has no tenant to name:
// tenantHeaderOK). Such a request was answered 400 only once its body was
// in, up to the class's limit, and an Expect got its 100 first (read95,
// TestPublicRouteRefusedHeaderBeforeBody).
func (s *Server) prePublic(d *prepared, h *fasthttp.RequestHeader) bool {
	x := s.pool.Get().(*exchange)
	x.prep, x.snap = d, d.snap
	ok := scanHeaders(h.RawHeaders(), &x.hdr) && policyHeaders(h.RawHeaders(), d.snap, &x.hdr) &&
		!x.hdr.tenantHdr && !x.hdr.namedHdr
	if ok {
		// Forwarded headers the handler refuses, as preAuthenticated
		// checks them: behind a trusted proxy such a public upload got
		// its 100 and its body read before the 400, a chunked one past
		// preBodyFree 413 (read96,
		// TestPublicRouteRefusedForwardedHeadersBeforeBody).
		_, ok = s.headSource(h, x)
	}
	if !ok {
		headRefused(h, d, &x.hdr)
	}
	x.reset()
	s.pool.Put(x)
	return ok
}

// headRefused marks the connection of head h, when the sidecar accepted
// it, so that its request is answered 400 (errorHandler, begin) whatever
// fasthttp does with its body: a chunked one refused past preBodyFree
// comes to errorHandler with its headers gone. A head refused for a
// cookie of refuse_cookies (hdr, on the tables d) keeps the answer naming
// it on the connection too.
func headRefused(h *fasthttp.RequestHeader, d *prepared, hdr *requestHeaders) {
	if c := connOfHeader(h); c != nil {
		c.refused = audit.BadRequest
		if i := int(hdr.badCookie); i > 0 && i <= len(d.cookieDeny) {
			c.cookieDeny = d.cookieDeny[i-1]
		}
	}
}

// headSource returns the source address of the request whose head h is,
// scanned into x.hdr, as the handler finds it: the peer of its connection,
// behind a trusted proxy the source the forwarded headers name
// (sourceAddr); false for forwarded headers the handler refuses. The
// connection is found from the head (connOfHeader), where fasthttp's
// hook has the head only: the tokens checked before their body were all
// charged to the zero address, so one client sending forged tokens with
// bodies over 16 KiB spent the budget of failures (tokenbudget.go) of
// every client sending a token not verified before with such a body
// (TestForgedTokensSpendTheSourceBudget,
// TestRefusedBodyChargesTheForwardedSource). A connection Serve passes
// through unwrapped (a TLS listener's of the caller's, conn.go) has its
// peer read from its RemoteAddr, as begin does for the handler: such
// connections shared the zero address's budget
// (TestCallerListenerChargesTheSourceBudget).
func (s *Server) headSource(h *fasthttp.RequestHeader, x *exchange) (netip.Addr, bool) {
	ctx := ctxOfHeader(h)
	if c := ownConn(ctx.Conn()); c != nil {
		x.peer = c.peer
	} else {
		x.peer = tcpAddr(ctx.RemoteAddr()) // conn.go
	}
	if len(x.snap.TrustedProxies) == 0 {
		return x.peer, true
	}
	return s.sourceAddr(ctx, x)
}

// bodyRefused decides a request whose body fasthttp refused for its size
// (ErrBodyTooLarge): the answer the handler would have given it, in the
// handler's order (a malformed request, no route, a declared body over
// its class limit, content its route refuses, a credential that does not
// authenticate, one authorize refuses, no approval on a route requiring
// one), else 413; behind a trusted proxy, for the forwarded source. A
// chunked request's headers are gone by then (fasthttp resets the
// request), and it gets 413, or the decision of the check before its
// body when that refused it past authentication (errorHandler,
// conn.refused).
func (s *Server) bodyRefused(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	h := &ctx.Request.Header
	if x.snap == nil {
		return audit.NotReady
	}
	if len(h.RawHeaders()) == 0 {
		s.routeForAudit(ctx, x)
		return audit.BodyTooLarge
	}
	x.hdr = requestHeaders{}
	if !scanHeaders(h.RawHeaders(), &x.hdr) || !policyHeaders(h.RawHeaders(), x.snap, &x.hdr) {
		return audit.BadRequest
	}
	// Behind a trusted proxy the source is the forwarded one, as in the
	// handler: the token below is charged to its budget, and the record
	// names it, not the proxy every client behind it shares.
	if len(x.snap.TrustedProxies) > 0 {
		var ok bool
		if x.peer, ok = s.sourceAddr(ctx, x); !ok {
			return audit.BadRequest
		}
	}
	if d := s.routeRequest(ctx, x); d != audit.Allowed {
		return d
	}
	if int64(h.ContentLength()) > x.route.Class.MaxBody {
		// Step 3, as the handler orders it (bodySize): a declared size
		// over the class's limit is known from the head, as early as the
		// credential and the tenant are, and is answered before them. It
		// was 401 without a credential, 400 with a tenant header naming
		// another tenant, 403 on another tenant's path, and 413 only when
		// all of those were right (review97,
		// TestBodyOverLimitIs413WhateverTheCaller).
		return audit.BodyTooLarge
	}
	if contentDeclared(h, x.route) {
		return audit.BadRequest
	}
	if x.route.Public && !tenantHeaderOK(x) { // no caller: any tenant header is refused (prePublic)
		return audit.BadRequest
	}
	if !x.route.Public {
		if d := s.authenticate(x); d != audit.Allowed {
			return d
		}
		// authorize.go, then the approval check of decide: refused
		// before the body (preAuthenticated).
		if d := s.authorize(x); d != audit.Allowed {
			return d
		}
		if x.route.Approval != nil && !validApprovalID(x.hdr.approval) {
			return audit.ApprovalRequired
		}
		if cl := int64(h.ContentLength()); cl >= 0 { // within the class's limit (above)
			// Its body fits: it was refused because its token, not
			// verified before, found its source's budget of failures
			// spent before its body (preAuthenticated), which has
			// refilled since, or, on a connection the sidecar did not
			// accept, the budget such connections share. The token is
			// verified and cached now; the client may retry.
			x.limited.RetryAfter = 0
			return audit.TokenFailuresLimited
		}
	}
	return audit.BodyTooLarge
}

// expect answers a request carrying "Expect: 100-continue" before its
// body is sent: 100 only when the body would be read (preBodyLimit, with
// the credential checked whatever the body's size, since the client is
// waiting anyway), else the final answer the request would get, recorded
// like any other (fasthttp then closes the connection). fasthttp's
// default sends 100 to everyone, before authentication; a GET with
// content used to get its 100 and have its body read before the 400
// (TestExpectContentRefusedBeforeContinue). An HTTP/1.0 request with
// Expect is refused (400, closed): HTTP/1.0 has no 1xx, and a client or an
// intermediary of that version takes "100 Continue" for the final answer,
// so the real one would be read as the answer to its next request. RFC
// 9110 section 10.1.1 says to ignore the expectation, which fasthttp's
// handler cannot do: it sends 100 or the final answer
// (TestExpectFromHTTP10Refused).
func (s *Server) expect(ctx *fasthttp.RequestCtx) int {
	h := &ctx.Request.Header
	if !h.IsHTTP11() {
		s.errorHandler(ctx, errExpectHTTP10)
		return ctx.Response.StatusCode()
	}
	cl := int64(h.ContentLength())
	if d := s.prepared.Load(); d != nil {
		limit, refused := s.preBodyLimit(d, h, max(cl, preBodyFree+1))
		if !refused && cl <= limit {
			return fasthttp.StatusContinue
		}
	}
	s.errorHandler(ctx, fasthttp.ErrBodyTooLarge)
	return ctx.Response.StatusCode()
}

// errExpectHTTP10 refuses an Expect in an HTTP/1.0 request (expect).
var errExpectHTTP10 = errors.New("Expect in an HTTP/1.0 request")

// maxPooledBody is the largest request body buffer handed back to
// fasthttp's body pool when the request is done.
const maxPooledBody = 256 << 10

// dropBigBody lets the garbage collector have a request body buffer
// larger than maxPooledBody, once the request is settled. fasthttp gives
// body buffers back to a package-level pool that keeps any size until it
// has calibrated (bytebufferpool, after about 42,000 puts): one upload of
// a class's max_body would otherwise be kept for reuse by any request.
// Swapping in nil leaves the pooled buffer empty and drops the big slice.
// A request that came without a body (x.bodyIn, hasBody) has none to
// drop, and Request.Body costs more than that test (issue 18:
// BenchmarkDecide).
func dropBigBody(req *fasthttp.Request, x *exchange) {
	if x.bodyIn && len(req.Body()) > maxPooledBody {
		req.SwapBody(nil)
	}
}
