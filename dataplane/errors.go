package dataplane

import (
	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// errorHandler is the server's second entry point (fasthttp's
// ErrorHandler): it answers the requests fasthttp could not read or parse,
// so Handler never saw them (headers too large, malformed, a body over the
// limit headerReceived set), in the same JSON shape, and records them like
// every other decision.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	// ctx.Time() is not set for a request that failed to parse (it may be
	// the previous request's), so the clock is read.
	mono, wall := s.clock.now()
	x := s.begin(ctx, mono, wall)
	defer s.finish(ctx, x) // records, under the request path's recover
	x.prep = s.prepared.Load()
	x.snap = x.prep.snapshot()
	scanHeaders(ctx.Request.Header.RawHeaders(), &x.hdr)
	s.requestID(x)
	d := audit.BadRequest
	switch err.(type) {
	case *fasthttp.ErrSmallBuffer:
		d = audit.HeaderTooLarge
	}
	if err == fasthttp.ErrBodyTooLarge {
		d = s.bodyRefused(ctx, x) // prebody.go
	}
	s.deny(ctx, x, d)
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
