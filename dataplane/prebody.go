package dataplane

import (
	"bytes"
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
// refused before its body: whatever decide would refuse it for on its
// head alone, in decide's order (preDecide). A declared body of at most
// free bytes within its class's limit is read whole and left to the
// handler: preBodyFree for headerReceived, none (-1) for expect, whose
// client waits for the answer whatever its body's size. A refused
// chunked body is still read up to preBodyFree, or its class's max_body
// when that is less (fasthttp forgets the headers of a chunked body it
// refuses, and the decision marked on the connection answers it, or the
// handler does), a refused declared body not at all.
//
// expect asked about a body of preBodyFree+1 bytes, which on a class
// whose max_body is within preBodyFree was over the limit and left to
// the size check undecided: any caller got its 100 Continue and had its
// body read before the 401 (attack135,
// TestExpectOnSmallClassChecksTheCredential).
func (s *Server) preBodyLimit(d *prepared, h *fasthttp.RequestHeader, cl, free int64) (limit int64, refused bool) {
	refuse := int64(refuseBody)
	if cl == -1 {
		refuse = preBodyFree
	}
	var buf [256]byte
	uri := h.RequestURI()
	path, query, target := splitTarget(uri)
	if target && uri[0] != '/' && !bytes.EqualFold(targetAuthority(uri), h.Host()) {
		target = false // an absolute form naming another host than Host (routeRequest)
	}
	var r *policy.Route
	if target {
		if path, target = normalizePath(buf[:0], path); target {
			r = d.snap.Match(h.Method(), path)
		}
	}
	if r != nil && !contentDeclared(h, r) && (cl > r.Class.MaxBody || cl >= 0 && cl <= free) {
		// Read whole and decided by the handler, or refused for its
		// size and decided by bodyRefused, in the handler's order.
		return r.Class.MaxBody, false
	}
	if s.preDecide(d, h, r, target, path, query) != audit.Allowed {
		if r != nil {
			// A chunked body past a max_body within preBodyFree is
			// refused for its size, as decide does before the
			// credential (preRefusal.give).
			refuse = min(refuse, r.Class.MaxBody)
		}
		return refuse, true
	}
	return r.Class.MaxBody, false
}

// preDecide runs decide on headers h of a request, before its body is
// read, up to the limits, which spend a budget and are left to the
// handler: the head's checks (step 1), the route r its target (target:
// one that parses and agrees with Host) names on the normalised path,
// content its route refuses, a method override, an access token or a
// tenant parameter in the query (override.go), a tenant cookie on a
// route binding {tenant}, strict audit with no sink accepting, a public
// route's tenant header, a stale policy, then the credential, authorize
// and the approval check, on a pooled exchange, so it does not allocate.
// The query's parameters are checked, a body's not: it is not in yet.
//
// The refusal is marked on the connection, so that it is answered as the
// handler answers it whatever fasthttp does with the body: a head the
// handler refuses at step 1 by headRefused (400, the handler too), any
// other decision by conn.pre, with what the record of the handler would
// name of the caller (the key id, the client and its tenant, the route)
// and of the head (the method, the path, the User-Agent, the request id;
// for a head refused too: preRefusal). errorHandler answers a chunked body past preBodyFree, its headers
// gone, with it; a declared body's refusal is decided again by
// bodyRefused, on the headers kept; a chunked body that turns out to fit
// in preBodyFree comes to the handler, which decides it itself (begin
// clears the mark). Each of these checks was one the same request passed
// or failed by its body's size alone: a large upload's answer was the
// credential's (401, 403) where the handler's is 400 or 503 (prebody132,
// TestHandlerChecksBeforeBodySameAnswer), and a chunked one past preBodyFree
// whose credential failed, or that had no route, got 413
// (TestChunkedCredentialRefusalIsTheHandlers).
//
// A request without an API key or token is authenticated by its
// connection's verified client certificate, as the handler does
// (tlsCert): fasthttp's hooks get the head, not the connection, but the
// head is the connection's RequestCtx's (connOfHeader) (review103,
// TestMTLSTenantRefusedBeforeBody). The check of authorize, the tenant
// the path or a tenant header names, the route's scopes, a privileged
// class's rules, and of the approval, are review97's and prebody130's
// (TestTenantPathRefusedBeforeBody, TestTenantHeaderRefusedBeforeBody,
// TestScopeAndClassRulesRefusedBeforeBody); the forwarded headers behind
// a trusted proxy read96's (TestPublicRouteRefusedForwardedHeadersBeforeBody,
// TestChunkedBodyBehindRefusedForwardedHeadersIs400).
func (s *Server) preDecide(d *prepared, h *fasthttp.RequestHeader, r *policy.Route, target bool, path, query []byte) audit.Decision {
	x := s.pool.Get().(*exchange)
	x.prep, x.snap = d, d.snap
	x.mono, x.wall = s.clock.now()
	x.at = x.wall
	c := connOfHeader(h)
	dec, head := s.preDecided(x, c, h, r, target, path, query)
	switch {
	case head:
		if headRefused(h, d, &x.hdr) {
			c.pre.keep(dec, x)
		}
	case c == nil || c.pre.kind.bad():
		// Refused 400 already for how its head or trailer section ended:
		// nothing this check found is answered.
	case dec != audit.Allowed:
		c.pre.keep(dec, x)
		c.pre.refuse(refusalDecided)
	case h.ContentLength() != 0:
		// Passed, with a body (chunked, or declared past the size that
		// skips this check): kept for its refusal past its class's
		// max_body, or a body that fails in its framing or stalls,
		// which come to errorHandler with their headers gone
		// (refusalSize). A declared body that stalled was recorded
		// as "GET -" under a request id the sidecar made
		// (TestChunkedBadFramingRecordNamesTheRequest).
		c.pre.keep(dec, x)
		c.pre.refuse(refusalSize)
	}
	x.reset()
	s.pool.Put(x)
	return dec
}

// preDecided is preDecide's decision on x, and whether the head itself
// was refused (step 1).
func (s *Server) preDecided(x *exchange, c *conn, h *fasthttp.RequestHeader, r *policy.Route, target bool, path, query []byte) (audit.Decision, bool) {
	// 1. The head, as decide checks it; behind a trusted proxy the
	// source the forwarded headers name (headSource). The peer is the
	// connection's for a head refused before that, as in decide
	// (refusalHead).
	x.peer = headPeer(h)
	if !headOK(h, x) {
		return audit.BadRequest, true
	}
	var ok bool
	if x.peer, ok = s.headSource(h, x); !ok {
		return audit.BadRequest, true
	}
	// 2. The route (routeRequest), on the path copied into the
	// exchange's own buffer, which the pool keeps: no allocation. The
	// path is the record's from here, as routeRequest sets it.
	if !target {
		return audit.BadRequest, false
	}
	x.path = append(x.path[:0], path...)
	if r == nil {
		return audit.NoRoute, false
	}
	x.route = r
	// 3. Content its route refuses (the size is preBodyLimit's), and
	// what decide checks after it before the credential.
	if d := s.beforeCredential(x, h, query); d != audit.Allowed || r.Public {
		return d, false
	}
	// 4. The credential; without an API key or token, the connection's
	// client certificate, as begin takes it (conn.go).
	if c != nil && len(credential(&x.hdr)) == 0 {
		if c.tc != nil {
			s.tlsCert(c, x.mono)
		}
		x.certFrom(c)
	}
	if d := s.authenticate(x); d != audit.Allowed {
		return d, false
	}
	// 5. authorize, then the approval check decide runs before the
	// limits; none of them changes any state.
	d := s.authorize(x)
	if d == audit.Allowed && r.Approval != nil && !validApprovalID(x.hdr.approval) {
		d = audit.ApprovalRequired // handler.go: decide
	}
	return d, false
}

// headOK is decide's step 1 on a head before its body is read: the
// empty line that ended it, the one pass (scanHeaders), the Connection
// lists, the version and the policy's refuse_headers, refuse_cookies and
// tenant_headers, in decide's order. The trailer names of a chunked body
// are checked once it is read (listsOK).
func headOK(h *fasthttp.RequestHeader, x *exchange) bool {
	raw := h.RawHeaders()
	return crlfEnd(raw) && scanHeaders(raw, &x.hdr) && scannedOK(raw, versionOK(h), x)
}

// scannedOK is the rest of headOK on a header block raw that ended in
// CRLF CRLF and that scanHeaders took into x.hdr, of a request whose
// version versionOK took when version: errorHandler's for a head
// fasthttp reset, which lost the version (headNames).
func scannedOK(raw []byte, version bool, x *exchange) bool {
	return (!x.hdr.hop || connectionListOK(raw)) && version && policyHeaders(raw, x.snap, &x.hdr)
}

// beforeCredential runs decide's checks between the body's size and the
// credential on the head alone, of a request to route x.route with
// query string query: content the route refuses (a GET's, HEAD's,
// DELETE's or OPTIONS' without allow_body: contentDeclared), a method
// override parameter, an access token or a tenant parameter in the query
// (override.go), a tenant cookie on a route binding {tenant} or a
// parameter or cookie of tenant_params or tenant_cookies (tenantnames.go), strict
// audit with no sink accepting, and a public route's tenant header or,
// on a route with a caller, a stale policy. None spends a budget: the
// public routes' slots are the handler's.
func (s *Server) beforeCredential(x *exchange, h *fasthttp.RequestHeader, query []byte) audit.Decision {
	r := x.route
	switch {
	case contentDeclared(h, r):
		return audit.BadRequest
	case len(query) > 0 && overrideParam(&ctxOfHeader(h).Request, query, false, x.hdr.coded, r.TenantSeg != 0):
		return audit.BadRequest
	case r.TenantSeg != 0 && x.hdr.cookie && tenantCookies(h.RawHeaders()):
		return audit.BadRequest
	case r.TenantSeg != 0 && tenantNamesRefused(x.snap, &ctxOfHeader(h).Request, query, h.RawHeaders(), false, x.hdr.cookie):
		return audit.BadRequest
	case s.unrecorded(x):
		return audit.AuditUnavailable
	case r.Public:
		if !tenantHeaderOK(x) { // no caller, no tenant to name
			return audit.BadRequest
		}
	case s.policyStale(x, x.wall, x.mono):
		return audit.PolicyStale
	}
	return audit.Allowed
}

// headSource returns the source address of the request whose head h is,
// scanned into x.hdr, from the peer of its connection in x.peer
// (headPeer), as the handler finds it: that peer, behind a trusted proxy
// the source the forwarded headers name (sourceAddr); false for
// forwarded headers the handler refuses. The
// connection is found from the head (connOfHeader), where fasthttp's
// hook has the head only: the tokens checked before their body were all
// charged to the zero address, so one client sending forged tokens with
// bodies over 16 KiB spent the budget of failures (tokenbudget.go) of
// every client sending a token not verified before with such a body
// (TestForgedTokensSpendTheSourceBudget,
// TestRefusedBodyChargesTheForwardedSource). A connection Serve did not
// wrap has its peer read from its RemoteAddr, as begin does for the
// handler: such connections shared the zero address's budget
// (TestCallerListenerChargesTheSourceBudget). Serve wraps every
// connection now (a caller's listener's too; one TLS already is refused,
// ErrTLSListener), so RemoteAddr is only a fallback.
func (s *Server) headSource(h *fasthttp.RequestHeader, x *exchange) (netip.Addr, bool) {
	if len(x.snap.TrustedProxies) == 0 {
		return x.peer, true
	}
	return s.sourceAddr(ctxOfHeader(h), x)
}

// headPeer returns the peer of the connection of head h (headSource).
func headPeer(h *fasthttp.RequestHeader) netip.Addr {
	ctx := ctxOfHeader(h)
	if c := ownConn(ctx.Conn()); c != nil {
		return c.peer
	}
	return tcpAddr(ctx.RemoteAddr()) // conn.go
}

// bodyRefused decides a request whose body fasthttp refused for its size
// (ErrBodyTooLarge): the answer the handler would have given it, in the
// handler's order (a malformed request, no route, a declared body over
// its class limit, content its route refuses, the query's parameters, a
// tenant cookie, strict audit, a stale policy, a credential that does
// not authenticate, one authorize refuses, no approval on a route
// requiring one), else 413; behind a trusted proxy, for the forwarded
// source. A chunked request's headers are gone by then (fasthttp resets
// the request), and it gets the decision of the check before its body
// (errorHandler, conn.pre), or 413. A request that check refused (pre)
// gets its decision once the head, the route and the size are checked:
// its credential is not checked again (below). A head errorHandler
// restored (restored, headNames) keeps the path it named, and is routed
// on it: after a panic of the header hook, which kept no decision, it
// was routed on the reset head's "/" (routeForAudit)
// (TestHeaderHookPanicKeepsRestoredPath).
func (s *Server) bodyRefused(ctx *fasthttp.RequestCtx, x *exchange, pre *preRefusal, restored bool) audit.Decision {
	h := &ctx.Request.Header
	if x.snap == nil || pre.kind == refusalNotReady {
		// No policy, or none when its head was checked (notReady): a
		// policy loaded since does not decide it.
		x.prep, x.snap = nil, nil
		return audit.NotReady
	}
	if len(h.RawHeaders()) == 0 {
		if !restored {
			s.routeForAudit(ctx, x)
		} else if len(x.path) > 0 {
			x.route = x.snap.Match(h.Method(), x.path) // the method restored too
		}
		return audit.BodyTooLarge
	}
	x.hdr = requestHeaders{}
	if !headOK(h, x) {
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
	if pre.kind == refusalPanicked || int64(h.ContentLength()) > x.route.Class.MaxBody {
		// Refused past one byte by the header hook's panic
		// (refusalPanicked), or step 3, as the handler orders it
		// (bodySize): a declared size over the class's limit is known
		// from the head, as early as the credential and the tenant are,
		// and is answered before them. It
		// was 401 without a credential, 400 with a tenant header naming
		// another tenant, 403 on another tenant's path, and 413 only when
		// all of those were right (review97,
		// TestBodyOverLimitIs413WhateverTheCaller).
		return audit.BodyTooLarge
	}
	if pre.kind == refusalDecided {
		// Refused by the check before the body on these headers, in
		// decide's order from here (preDecide): answered with its
		// decision and the caller it named. Checked again, a token
		// not verified before was verified and charged to its
		// source's budget of failures a second time (a third with
		// Expect, which ran the check again): an upload with a forged
		// token spent two or three units where the handler spends
		// one, and was answered 429 token_failures_limited where the
		// handler answers 401 (attack135,
		// TestRefusedUploadChargesTheTokenOnce).
		return pre.decided(x)
	}
	// Then content the route refuses, the query's parameters, a tenant
	// cookie, strict audit, a public route's tenant header or a stale
	// policy, as decide orders them: an upload refused for one of them
	// was answered for its credential, 401 or 403, where the handler
	// answers 400 or 503 (prebody132, TestHandlerChecksBeforeBodySameAnswer).
	if d := s.beforeCredential(x, h, x.query); d != audit.Allowed {
		return d
	}
	if !x.route.Public {
		if d := s.authenticate(x); d != audit.Allowed {
			return d
		}
		// authorize.go, then the approval check of decide: refused
		// before the body (preDecide).
		if d := s.authorize(x); d != audit.Allowed {
			return d
		}
		if x.route.Approval != nil && !validApprovalID(x.hdr.approval) {
			return audit.ApprovalRequired
		}
		if cl := int64(h.ContentLength()); cl >= 0 { // within the class's limit (above)
			// Its body fits: it was refused because its token, not
			// verified before, found its source's budget of failures
			// spent before its body (preDecide), which has
			// refilled since, or, on a connection the sidecar did not
			// accept, the budget such connections share. The token is
			// verified and cached now; the client may retry.
			x.limited.RetryAfter = 0
			return audit.TokenFailuresLimited
		}
	}
	return audit.BodyTooLarge
}

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
// drop, and Request.Body costs more than that test, which inlines into
// the caller (issue 18: BenchmarkDecide).
func dropBigBody(req *fasthttp.Request, x *exchange) {
	if x.bodyIn {
		dropBodyOver(req)
	}
}

// dropBodyOver is dropBigBody for a request that came with a body.
func dropBodyOver(req *fasthttp.Request) {
	if len(req.Body()) > maxPooledBody {
		req.SwapBody(nil)
	}
}
