package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// exchange is the state of one request on its way through the pipeline. It
// belongs to the request's connection (see conn) or comes from a pool, so
// nothing on the request path allocates.
type exchange struct {
	mono   int64 // limiter clock at arrival
	wall   int64 // unix nanoseconds at arrival
	snap   *policy.Snapshot
	d      *derived
	route  *policy.Route
	client *policy.Client
	key    *policy.Key
	claims *jwt.Claims
	scopes policy.ScopeSet
	method audit.AuthMethod
	keyHit bool // the key was verified from the front: counted in metrics
	peer   netip.Addr

	takes   [3]limiter.Take
	limited limiter.Result
	which   int // index of the denying take
	slot    uint64
	hasSlot bool

	hdr   requestHeaders
	path  []byte // normalised path
	query []byte // query string, aliasing the request
	uri   []byte // forwarded request target, built when forwarding
	reqID []byte
	buf   []byte        // scratch for header values
	rec   *audit.Record // handed to the sink and replaced by record

	conn *conn // the connection that owns x, or nil for a pooled exchange

	// fwdText is the X-Forwarded-For value of fwdFor, the last source
	// address forwarded for. It survives reset.
	fwdFor  netip.Addr
	fwdText []byte

	body     *responseBody // made on the first streamed response; survives reset
	streamed int64         // bytes of a streamed response body sent

	// ids is the next generated request id, from a block [ids, idsEnd)
	// claimed from Server.reqSeq, so that ids are unique without an atomic
	// add on one shared counter per request. It survives reset.
	ids, idsEnd uint64
}

// idBlock is the number of request ids an exchange claims at a time.
const idBlock = 1 << 16

// maxPooled caps the buffers an exchange keeps for its next request, so
// one huge request does not pin memory forever.
const maxPooled = 8 << 10

// arrival is when fasthttp began serving ctx. The server reads time.Now()
// for every request just before it calls the handler (RequestCtx.Time), so
// the request path reuses that reading instead of taking its own: one clock
// read less per request, about 35 ns on this machine's vDSO. A context not
// served by a fasthttp.Server carries no time, and then the clock is read.
func (s *Server) arrival(ctx *fasthttp.RequestCtx) (mono, wall int64) {
	t := ctx.Time()
	if t.IsZero() {
		return s.clock.now()
	}
	return limiter.At(t), t.UnixNano()
}

// reset clears x for the next request field by field: zeroing the whole
// exchange would also clear the record's text arrays (most of its bytes),
// which are read only up to their lengths. limited holds no references
// and is written before it is read. TestExchangeReset checks that every
// other field comes back zero.
func (x *exchange) reset() {
	x.mono, x.wall = 0, 0
	x.snap, x.d, x.route, x.client, x.key, x.claims = nil, nil, nil, nil, nil, nil
	x.scopes, x.method, x.keyHit, x.peer = 0, audit.AuthNone, false, netip.Addr{}
	x.takes = [3]limiter.Take{} // they point into a policy's limit tables
	x.which, x.slot, x.hasSlot = 0, 0, false
	x.hdr = requestHeaders{}
	x.query = nil
	x.path, x.uri, x.reqID, x.buf = x.path[:0], x.uri[:0], x.reqID[:0], x.buf[:0]
	x.streamed = 0
	x.rec.Reset()
}

// Handler runs the request path on one request: decide, then answer with a
// denial or forward to the upstream, then audit. A panic anywhere below is
// answered with 500 and the process keeps serving.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	mono, wall := s.arrival(ctx)
	x := s.begin(ctx, mono, wall)
	defer s.finish(ctx, x)
	if d := s.decide(ctx, x); d != audit.Allowed {
		s.deny(ctx, x, d)
		return
	}
	s.forward(ctx, x)
}

// finish recovers a panic of decide or forward, then settles the request,
// unless its response body is streaming: then the stream's Close settles
// it, when the body is out. It runs deferred, so it also runs when the
// handler panics.
func (s *Server) finish(ctx *fasthttp.RequestCtx, x *exchange) {
	if p := recover(); p != nil {
		if x.body != nil {
			x.body.detach() // a body started or streaming: its connection is closed
		}
		s.panicked(ctx, x, p)
	}
	if x.body != nil && x.body.armed {
		return
	}
	s.settle(ctx, x)
}

// settle frees the concurrency slot, writes the audit record and counts
// the request. A panic here (a sink's Swap, the metrics) is answered like
// one in decide or forward: fasthttp recovers nothing, and a panic that
// leaves the handler ends the process (issue 13, item 1).
func (s *Server) settle(ctx *fasthttp.RequestCtx, x *exchange) {
	defer s.settled(ctx, x)
	if s.stopping.Load() {
		// Draining: a kept-alive client moves to a new connection, which
		// the load balancer sends elsewhere; kube-proxy keeps an
		// established connection on this pod after the endpoint is gone.
		ctx.SetConnectionClose()
	}
	if x.hasSlot {
		x.hasSlot = false
		s.inflight.Release(x.slot)
	}
	s.record(ctx, x)
}

// settled recovers a panic of settle and readies x for its next request.
// The record that was being handed over may be the sink's by now, so x
// gets a new one.
func (s *Server) settled(ctx *fasthttp.RequestCtx, x *exchange) {
	if p := recover(); p != nil {
		x.rec = new(audit.Record)
		s.metrics.auditDropped.Add(1)
		s.panicked(ctx, x, p)
	}
	dropBigBody(&ctx.Request) // prebody.go
	s.end(x)
}

// panicked answers 500 for a request whose handling panicked with p, logs
// it and counts it.
func (s *Server) panicked(ctx *fasthttp.RequestCtx, x *exchange, p any) {
	s.metrics.panics.Add(1)
	s.log.Error().Interface("panic", p).Bytes("request_id", x.reqID).Msg("handler panicked; answered 500")
	s.deny(ctx, x, audit.InternalError)
}

// decide runs steps 1 to 6 of the request path and returns the decision.
func (s *Server) decide(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	h := &ctx.Request.Header
	x.d = s.derived.Load()
	x.snap = x.d.snapshot()
	ok := scanHeaders(h.RawHeaders(), &x.hdr) && listsOK(h, x) // headerlist.go
	s.requestID(x)
	if x.snap == nil { // not when draining: a request that reaches us is served (issue 13, item 5)
		return audit.NotReady
	}
	if len(x.snap.TrustedProxies) > 0 && ok {
		x.peer, ok = s.sourceAddr(ctx, x)
	}
	if !ok {
		return audit.BadRequest
	}
	if d := s.routeRequest(ctx, x); d != audit.Allowed {
		return d
	}
	// Strict audit mode: no record, no service (public routes included).
	if x.snap.AuditStrict && (s.cfg.Audit == nil || !s.cfg.Audit.Accepting()) {
		return audit.AuditUnavailable
	}
	if x.route.Public {
		return audit.Allowed
	}
	if s.cfg.Watching && x.snap.StaleDeny && x.snap.StaleAfter > 0 &&
		x.wall-s.store.HeardAt() > int64(x.snap.StaleAfter) {
		return audit.PolicyStale
	}
	if d := s.authenticate(x); d != audit.Allowed {
		return d
	}
	if d := s.authorize(x); d != audit.Allowed {
		return d
	}
	return s.limit(x)
}

// routeRequest normalises the target once, matches the route and checks the
// body size against the route's class.
func (s *Server) routeRequest(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	h := &ctx.Request.Header
	uri := h.RequestURI()
	path, query, ok := splitTarget(uri)
	if !ok {
		return audit.BadRequest
	}
	// An absolute-form target names the host itself, and RFC 9112 section
	// 3.2.2 says to take it over Host; one that disagrees with Host is
	// refused rather than forwarded under either name.
	if uri[0] != '/' && !bytes.EqualFold(targetAuthority(uri), h.Host()) {
		return audit.BadRequest
	}
	if x.path, ok = normalizePath(x.path, path); !ok {
		x.path = x.path[:0] // not a path to audit
		return audit.BadRequest
	}
	x.query = query
	if x.route = x.snap.Match(h.Method(), x.path); x.route == nil {
		return audit.NoRoute
	}
	// A declared length is checked as declared; a chunked body (-1) by
	// what was read, which headerReceived already capped.
	cl := int64(h.ContentLength())
	if cl > x.route.Class.MaxBody || cl == -1 && int64(len(ctx.Request.Body())) > x.route.Class.MaxBody {
		return audit.BodyTooLarge
	}
	return audit.Allowed
}

// headerReceived runs before fasthttp reads a body: it caps the body at the
// limit of the request's class, so an oversized declared body gets 413
// without being read, refuses a body larger than preBodyFree of a request
// with no route or no verified credential (prebody.go), and gives the body
// ReadTimeout (the headers had HeaderTimeout). Small bodies that fit every
// class need no routing here.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) (rc fasthttp.RequestConfig) {
	defer s.headerPanicked(&rc)
	d := s.derived.Load()
	if d == nil {
		return fasthttp.RequestConfig{MaxRequestBodySize: 1}
	}
	cl := int64(h.ContentLength())
	if cl == -2 || cl == 0 {
		return fasthttp.RequestConfig{} // no body: the header deadline stands
	}
	if cl > 0 && cl <= min(d.minBody, preBodyFree) {
		return fasthttp.RequestConfig{ReadTimeout: s.cfg.ReadTimeout}
	}
	limit, _ := s.preBodyLimit(d, h, cl) // prebody.go: route and credential first
	return fasthttp.RequestConfig{MaxRequestBodySize: int(max(limit, 1)), ReadTimeout: s.cfg.ReadTimeout}
}

// headerPanicked recovers a panic of headerReceived, which fasthttp calls
// outside the handler: the request may carry no body, so one that has a
// body is refused, and the handler answers the rest.
func (s *Server) headerPanicked(rc *fasthttp.RequestConfig) {
	if p := recover(); p != nil {
		s.metrics.panics.Add(1)
		s.log.Error().Interface("panic", p).Msg("header check panicked; request body refused")
		*rc = fasthttp.RequestConfig{MaxRequestBodySize: 1}
	}
}

// requestID keeps a well-formed X-Request-ID or makes one: a random
// per-process prefix and a number no other request of the process gets,
// written without allocating.
func (s *Server) requestID(x *exchange) {
	if id := x.hdr.requestID; validRequestID(id) {
		x.reqID = append(x.reqID[:0], id...)
		return
	}
	if x.ids == x.idsEnd {
		x.idsEnd = s.reqSeq.Add(idBlock)
		x.ids = x.idsEnd - idBlock
	}
	x.reqID = appendHex64(append(x.reqID[:0], s.reqPrefix[:]...), x.ids)
	x.ids++
}

// appendHex64 appends n as 16 lower-case hex digits, eight at a time: the
// nibbles of each half are spread one per byte, then turned into digits
// with no branch or table (about 2 ns, against 20 for a digit loop).
func appendHex64(dst []byte, n uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, hexDigits(uint32(n>>32)))
	return binary.BigEndian.AppendUint64(dst, hexDigits(uint32(n)))
}

// hexDigits returns the eight hex digits of v, most significant in the
// top byte.
func hexDigits(v uint32) uint64 {
	const ones = 0x0101010101010101
	w := uint64(v)
	w = (w | w<<16) & 0x0000ffff0000ffff
	w = (w | w<<8) & 0x00ff00ff00ff00ff
	w = (w | w<<4) & 0x0f0f0f0f0f0f0f0f // one nibble per byte
	letters := (w + 6*ones) >> 4 & ones // 1 in each byte holding 10..15
	return w + '0'*ones + letters*('a'-'0'-10)
}

func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > audit.MaxRequestID {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
