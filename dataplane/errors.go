package dataplane

import (
	"bytes"
	"net"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// errorHandler is the server's second entry point (fasthttp's
// ErrorHandler): it answers the requests fasthttp could not read or parse,
// so Handler never saw them (headers too large, malformed, a body over the
// limit headerReceived set), in the same JSON shape, and records them like
// every other decision. A connection that sent nothing at all is closed
// without an answer: no request was made.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	if nothingRead(ctx, err) && !headIn(ctx) {
		// fasthttp writes an answer after this returns; to a closed
		// connection, where it fails and is dropped.
		ctx.Conn().Close()
		return
	}
	// Why the request was refused before the handler (conn.pre, its
	// kind: refusal.go), with what the handler's record names of the
	// caller (preDecide). Copied: begin clears them.
	var cookieDeny []byte // the answer naming a refused cookie (headRefused)
	var pre preRefusal
	var headPrep *prepared
	var names headNames // the head of a request whose body failed (followBody)
	if c := ownConn(ctx.Conn()); c != nil {
		// fasthttp has handed its read buffer, which the bytes the head
		// kept are in, back to its pool after the error: begin must not
		// read them (pending). The connection closes after the answer.
		c.head.ended = false
		cookieDeny, pre, headPrep = c.cookieDeny, c.pre, c.headPrep
		if c.headIn {
			names = c.names
		}
	}
	x := s.begin(ctx)
	defer s.finishError(ctx, x) // records, under the request path's recover
	// ctx.Time() is not set for a request that failed to parse (it may be
	// the previous request's), so the clock is read, under the recover
	// (TestClockPanicKeepsServing).
	mono, wall := s.clock.now()
	s.arrived(x, mono, wall)
	x.early = true // a panic recording it keeps its answer (settled)
	// The tables the check before the body set the body's limit on, when
	// it did (conn.headPrep): a body refused by that limit is decided on
	// them, as the state its head was checked in decides readiness
	// (notReady). A policy raising max_body swapped in since had the
	// refused body fit, its credential checked, and the request answered
	// 429 token_failures_limited (TestSizeRefusalDecidedOnHeadCheckPolicy).
	if x.prep = headPrep; x.prep == nil {
		x.prep = s.prepared.Load()
	}
	x.snap = x.prep.snapshot()
	h := &ctx.Request.Header
	raw := h.RawHeaders()
	reset := len(raw) == 0 // fasthttp resets a request whose body fails
	restored := false
	if len(names.method) > 0 && (reset || pre.kind == refusalTrailer || err != fasthttp.ErrBodyTooLarge && err != errExpectUnmet && err != errExpectHTTP10) {
		// A body failing in its framing, stalling, cut short or past
		// its limit, its headers gone (or kept: a trailer section that
		// ended badly in a read after 100 Continue came with its head,
		// which was named by the connection's peer alone,
		// TestBadTrailerNamesTheHead; a body refused for its size with
		// its head kept is bodyRefused's, an expectation's answer
		// expect's, unless its trailer section ended badly in the bytes
		// read with it, a failure of its body that expect refuses
		// before 100 Continue: TestExpectAfterBadTrailerGetsNoContinue):
		// answered and recorded with its
		// head's names (headNames), the client's request id, method,
		// path and User-Agent, and behind a trusted proxy the source
		// it forwards, as the handler would have, whatever the check
		// before the body made of it (pre). It was answered under a
		// request id the sidecar made and recorded as "GET -"
		// (TestSmallBodyFailureRecordNamesTheRequest,
		// TestChunkedBadFramingRecordNamesTheRequest,
		// TestOversizeChunkedBadTrailerKeepsNames).
		raw, restored = names.restore(x, h), true
	}
	scanned := scanHeaders(raw, &x.hdr)
	s.requestID(x)
	if restored {
		// Step 1 as decide runs it (a request refused as ended badly,
		// requestHeaders.refused, then headOK, the version kept by
		// followBody, and behind a trusted proxy the forwarded source,
		// sourceIn): a head it refuses is recorded, as the handler
		// records it, with no path, and with the proxy's address, or
		// none for forwarded headers it refuses. A name the one pass
		// stops at hid the Forwarded lines after it, so X-Forwarded-For
		// beside them named its client (TestRestoredHeadSourceAsTheHandlers,
		// TestRestoredHeadForwardedRefusalAsTheHandlers,
		// TestRestoredHeadWithBadTrailerNamesTheSource). A trailer
		// section that ended badly (refusalTrailer) is its body's failure,
		// as a chunk size that is not hex is, not its head's: step 1
		// runs on the head. It was taken for a head that ended badly,
		// recorded with no path and the proxy's address, so that a
		// client behind a trusted proxy chose, by how it ended its
		// trailer, to be named by the proxy (TestBadTrailerNamesTheHead).
		// No policy when the head was checked (notReady) answers it
		// before the route, as decide does.
		ok := !pre.kind.ofHead() && pre.kind != refusalNotReady && scanned && crlfEnd(raw) && scannedOK(raw, names.version, x)
		if ok && x.snap != nil && len(x.snap.TrustedProxies) > 0 {
			x.peer, ok = sourceIn(raw, x)
		}
		switch {
		case !ok:
			x.path = x.path[:0]
		case x.snap != nil && len(x.path) > 0:
			// Named by the route its head names, as the handler's record
			// of the same head is (routeRequest): a body failing in its
			// framing, stalling or ending its trailer section badly was
			// recorded with none (TestRestoredBadRequestNamesTheRoute).
			x.route = x.snap.Match(h.Method(), x.path)
		}
	}
	d := audit.BadRequest
	switch err.(type) {
	case *fasthttp.ErrSmallBuffer:
		d = audit.HeaderTooLarge
	}
	if err == errExpectUnmet && !pre.kind.bad() {
		// expect: its body unread; a head that ended badly is 400. The
		// rest of step 1 first, as decide checks it: a head it refuses
		// is 400, 503 with no policy, whatever it expects
		// (TestExpectUnmetAfterHeadCheck); behind a trusted proxy the
		// forwarded source too, which the record names
		// (TestExpectUnmetAfterForwardedSource).
		switch {
		case scanned && crlfEnd(h.RawHeaders()) && listsOK(h, x) && versionOK(h) && policyHeaders(h.RawHeaders(), x.snap, &x.hdr) && s.forwardedOK(ctx, x):
			d = audit.ExpectationFailed
		case x.snap == nil:
			d = audit.NotReady
		}
	}
	gone := err == fasthttp.ErrBodyTooLarge && reset
	switch {
	case err != fasthttp.ErrBodyTooLarge || pre.kind.bad():
		// 400: a head that ended badly, or one the check before the
		// body refused at step 1 (headRefused), or a body failing in
		// its framing or stalling, its headers gone or not; one that
		// check passed or refused is named as its 413 would be, with
		// the names restored above (TestChunkedBadFramingRecordNamesTheRequest).
	case (pre.kind == refusalDecided || pre.kind == refusalNotReady) && gone:
		// A chunked body refused past preBodyFree, its headers gone:
		// answered with the decision of the check before it (no route,
		// the query's parameters, strict audit, a stale policy, the
		// credential, authorize, the approval check: preDecide), not
		// 413, and recorded with the caller that check knew; 413 past a
		// class's max_body within preBodyFree (preRefusal.give).
		d = pre.give(x)
	case pre.kind == refusalSize && gone:
		// A chunked body the check before it passed, refused past its
		// class's max_body, its headers gone: 413, recorded with the
		// route (TestChunkedOverLimitRecordIsTheHandlers).
		d = pre.oversize(x)
	default:
		d = s.bodyRefused(ctx, x, &pre, restored) // prebody.go
	}
	if d == audit.BadRequest && cookieDeny != nil {
		// A head refused before its body for a cookie of refuse_cookies
		// (prebody.go): its 400 names the cookie, its headers gone or
		// not.
		s.denyAs(ctx, x, d, cookieDeny)
		return
	}
	s.deny(ctx, x, d)
}

// forwardedOK reports whether the forwarded source of the request in ctx
// is one decide takes (sourceAddr), with no policy or no trusted proxy
// trivially, and sets x.peer to it, as decide does.
func (s *Server) forwardedOK(ctx *fasthttp.RequestCtx, x *exchange) bool {
	if x.snap == nil || len(x.snap.TrustedProxies) == 0 {
		return true
	}
	var ok bool
	x.peer, ok = s.sourceAddr(ctx, x)
	return ok
}

// routeForAudit names the route of a request refused before the handler
// ran (a body over its class limit), so its audit record says which
// endpoint was asked for. It authenticates nothing.
func (s *Server) routeForAudit(ctx *fasthttp.RequestCtx, x *exchange) {
	if x.snap == nil {
		return
	}
	h := &ctx.Request.Header
	if path, _, ok := splitTarget(h.RequestURI()); ok {
		if x.path, ok = normalizePath(x.path, path); ok {
			x.route = x.snap.Match(h.Method(), x.path)
		} else {
			x.path = x.path[:0]
		}
	}
}

// headIn reports whether the head of the request in ctx was received
// (conn.headIn): a failure after it, of its body's read, is answered and
// audited, though fasthttp reset the request and hands the read's own
// error over (nothingRead).
func headIn(ctx *fasthttp.RequestCtx) bool {
	c := ownConn(ctx.Conn())
	return c != nil && c.headIn
}

// nothingRead reports whether err ended a connection's first request
// before any byte of it arrived: a client's spare connection reaching
// HeaderTimeout, or one reset before it spoke. fasthttp hands that read's
// own error over as it came (a later read's is wrapped with what it read),
// and closes a kept-alive connection that goes quiet between requests
// itself, without calling here. An answer there is unsolicited (Go's
// transport logs any but a 408, and a browser may take it for the answer
// to its next request), so nginx, like fasthttp between requests, closes
// such a connection silently.
func nothingRead(ctx *fasthttp.RequestCtx, err error) bool {
	_, raw := err.(net.Error)
	return raw && len(ctx.Request.Header.RawHeaders()) == 0
}

// headNames is the head of a request with a body as fasthttp parsed it:
// slices of its RequestHeader's own buffers, which followBody keeps for
// errorHandler. fasthttp (v1.74.0) resets a request whose body fails to
// be read, stalled past ReadTimeout, cut short or badly framed
// (Request.ReadBody), before it calls ErrorHandler (Server.serveConn,
// writeErrorResponse); the reset truncates those buffers but neither
// clears nor replaces them (RequestHeader.resetSkipNormalize), and
// nothing writes them in between. So a request whose body fails keeps
// the names of its head at the cost, to one whose body comes whole, of
// three slices and the version check's answer stored (the reset head
// names HTTP/1.1, and step 1 refuses another version): nothing copied,
// nothing parsed (the User-Agent and Host are read from the header block
// when needed). They name every such request, whatever the check before
// the body made of it (preRefusal keeps the caller's names: the key id,
// the client, the route); that check kept copies of them for the
// requests it looked at, and nothing for those it skipped, a declared
// body within 16 KiB, or found refused already as ended badly, which
// were answered under a request id the sidecar made and recorded as
// "GET -" (TestSmallBodyFailureRecordNamesTheRequest,
// TestOversizeChunkedBadTrailerKeepsNames).
type headNames struct {
	method, uri, raw []byte
	version          bool // versionOK(h) when followBody kept them
}

// restore hands x and the reset head h the method, the User-Agent (the
// last line's, as fasthttp keeps it) and the normalised path n kept of
// the request, and returns its header block, for the request id, the forwarded source and the rest of step 1
// that errorHandler reads there. A target that is not one, or an
// absolute one naming another host than Host, names no path, as the
// check before the body names none (preBodyLimit).
func (n *headNames) restore(x *exchange, h *fasthttp.RequestHeader) []byte {
	h.SetMethodBytes(n.method) // onto the same bytes
	for _, ua := range headerValues(n.raw, "user-agent") {
		h.SetUserAgentBytes(ua) // the last, as fasthttp keeps it (TestRestoredHeadUserAgentAsTheHandlers)
	}
	path, _, ok := splitTarget(n.uri)
	if ok && n.uri[0] != '/' {
		var host []byte
		for _, v := range headerValues(n.raw, "host") {
			host = v
			break
		}
		ok = bytes.EqualFold(targetAuthority(n.uri), host)
	}
	if ok {
		x.path, ok = normalizePath(x.path, path)
	}
	if !ok {
		x.path = x.path[:0]
	}
	return n.raw
}
