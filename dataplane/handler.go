package dataplane

import (
	"crypto/sha256"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// exchange is the state of one request on its way through the pipeline. It
// belongs to the request's connection (see conn) or comes from a pool, so
// nothing on the request path allocates.
type exchange struct {
	mono   int64 // limiter clock at arrival
	wall   int64 // unix nanoseconds at arrival
	at     int64 // unix nanoseconds the request is judged at: its arrival, then the end of its last wait (recheck.go)
	snap   *policy.Snapshot
	prep   *prepared
	route  *policy.Route
	client *policy.Client
	key    *policy.Key
	claims *jwt.Claims
	scopes policy.ScopeSet
	method audit.AuthMethod
	keyHit bool // the key was verified from the front: counted in metrics
	bodyIn bool // the request came with a body (hasBody, size.go): asked of fasthttp once, in begin
	peer   netip.Addr

	certIDs  []string // identities of the connection's verified client certificate (tls.go)
	certEnd  int64    // when that certificate (or its chain) expires, unix nanoseconds
	certBorn int64    // its notBefore, unix nanoseconds
	// certDenied is why the connection's certificate no longer
	// authenticates (conn.certDenied), else Allowed.
	certDenied audit.Decision

	takes   [3]limiter.Take
	limited limiter.Result
	which   int // index of the denying take
	slot    uint64
	hasSlot bool
	public  bool // holds one of the public routes' slots (limit.go)
	// tenantSlot is the in-flight count of the tenant whose default slot
	// the request holds (limit.go, limitTenant), else nil.
	tenantSlot *atomic.Int64

	hdr    requestHeaders
	path   []byte // normalised path
	query  []byte // query string, aliasing the request's target until prepareRequest writes the forwarded one over it
	uri    []byte // forwarded request target, built when forwarding
	reqID  []byte
	buf    []byte        // scratch for header values
	delKey []byte        // scratch: the header name delHeader deletes, normalised
	rec    *audit.Record // handed to the sink and replaced by record

	// clientID: reqID is the client's X-Request-ID, kept (requestid.go),
	// not one the sidecar made: client bytes, named in a log line by a
	// digest only (logRequestID).
	clientID bool

	conn *conn // the connection that owns x, or nil for a pooled exchange

	// fwdLine is the X-Forwarded-For header line (CRLF-terminated) of
	// fwdFor, the last source address forwarded for. It survives reset.
	fwdFor  netip.Addr
	fwdLine []byte

	body     *responseBody // made on the first forward; survives reset
	out      wire          // the request's bytes for the upstream (upstream.go)
	undo     undo          // what identify changed that a new decision may take back (forward.go)
	streamed int64         // bytes of a streamed response body sent
	cut      bool          // a streamed response broke before a byte of it was written: the client got no status (stream.go)
	early    bool          // answered by errorHandler: a panic recording it keeps its answer (settled)
	settling bool          // end is settling it: a panic is recording's (finish)
	spent    string        // the route (policy.Approval.Route) whose approval the request spent (approval.go)
	spentBy  string        // the client (policy.Client.ID) it spent it as
	held     string        // the route whose approval x.hold holds a use of
	heldBy   string        // the client x.hold holds it for
	hold     ApprovalHold  // the use reserved for the request, until spent or given back

	// ids is the next generated request id, from a block [ids, idsEnd)
	// claimed from Server.reqSeq, so that ids are unique without an atomic
	// add on one shared counter per request. It survives reset.
	ids, idsEnd uint64
}

// maxPooled caps the buffers an exchange keeps for its next request, so
// one huge request does not pin memory forever.
const maxPooled = 8 << 10

// arrive is arrived for the request of x in ctx, which arrived when
// fasthttp began serving ctx. The server reads time.Now() for every
// request just before it calls the handler (RequestCtx.Time), so the
// request path reuses that reading instead of taking its own: one clock
// read less per request (docs/performance.md gives the cost of one). A
// context not served by a fasthttp.Server carries no time, and then the
// clock is read, as it is with Config.Clock set. arrived's body is
// repeated here, not called: the handler makes one call for both
// (BenchmarkDecide).
func (s *Server) arrive(ctx *fasthttp.RequestCtx, x *exchange) {
	if t := ctx.Time(); t.IsZero() || s.clock.wall != nil {
		x.mono, x.wall = s.clock.now()
	} else {
		x.mono, x.wall = limiter.At(t), t.UnixNano()
	}
	x.at = x.wall
	if c := x.conn; c != nil {
		if c.tc != nil { // a plain connection's request makes no call (issue 18)
			s.tlsCert(c, x.mono)
		}
		if c.idsDone { // else x has no certificate, as reset left it (arrived's note)
			x.certFrom(c)
		}
	}
}

// reset clears x for the next request field by field: zeroing the whole
// exchange would also clear the record's text arrays (most of its bytes),
// which are read only up to their lengths. limited holds no references
// and is written before it is read. TestExchangeReset checks that every
// other field comes back zero. The fields that hold pointers are cleared
// first, in one statement, so that they take one write barrier test, not
// one per statement (issue 18: BenchmarkDecide).
func (x *exchange) reset() {
	x.mono, x.wall, x.at = 0, 0, 0
	x.snap, x.prep, x.route, x.client, x.key, x.claims = nil, nil, nil, nil, nil, nil
	x.certIDs, x.tenantSlot, x.query, x.out.b, x.out.c, x.out.bytes, x.hold = nil, nil, nil, nil, nil, nil, nil
	x.spent, x.spentBy, x.held, x.heldBy, x.peer = "", "", "", "", netip.Addr{}
	x.takes = [3]limiter.Take{} // they point into a policy's limit tables
	x.hdr = requestHeaders{}
	x.scopes, x.method, x.keyHit, x.bodyIn = 0, audit.AuthNone, false, false
	x.certEnd, x.certBorn, x.certDenied = 0, 0, audit.Allowed
	x.which, x.slot, x.hasSlot, x.public = 0, 0, false, false
	// A slice emptied in a statement of its own is only its length
	// written: the compiler skips the pointer, and its write barrier, of
	// x.f = x.f[:0] (issue 18: BenchmarkDecide).
	x.path = x.path[:0]
	x.uri = x.uri[:0]
	x.reqID = x.reqID[:0]
	x.buf = x.buf[:0]
	x.delKey = x.delKey[:0]
	x.out.lines = x.out.lines[:0]
	x.undo.host = x.undo.host[:0]
	x.clientID, x.out.n, x.undo.credAt, x.undo.hostSet = false, 0, 0, false
	x.streamed, x.cut, x.early, x.settling = 0, false, false, false
	x.rec.Reset()
}

// Handler runs the request path on one request: decide (steps 1 to 6),
// then answer with a denial (deny.go) or forward to the upstream (step 7),
// then record (step 8). A panic anywhere below is answered with 500 and
// the process keeps serving.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	x := s.begin(ctx)
	defer s.finish(ctx, x) // a panic: answered, then recorded (record.go)
	s.arrive(ctx, x)       // the clock, under finish's recover: Config.Clock may panic
	if d := s.decide(ctx, x); d != audit.Allowed {
		s.deny(ctx, x, d)
	} else {
		s.forward(ctx, x) // 7. forward.go, then upstream.go and stream.go
	}
	s.end(ctx, x) // 8. record.go, under finish's recover
}

// end settles a request the handler answered without a panic, unless its
// response body is streaming: then the stream's Close settles it, when
// the body is out. It runs in the handler's body, not deferred, so that
// finish's recover covers it: settling needs no defer and recover of its
// own on this path, which cost the decision about 50 instructions
// (issue 18: BenchmarkDecide; docs/performance.md). A panic in it (a
// sink's Swap, the metrics) is recordPanicked's, by x.settling.
func (s *Server) end(ctx *fasthttp.RequestCtx, x *exchange) {
	if x.hdr.close {
		connClose(ctx)
	}
	if x.body != nil && x.body.armed {
		return
	}
	x.settling = true
	s.release(ctx, x)
}

// connClose ends the connection of a client that listed "close" in a
// spelling fasthttp does not heed ("Close", "close, x-a", or before a
// "keep-alive" line) with this answer, so that nothing pipelined after it
// is read as a request (RFC 9112 section 9.6,
// TestClientConnectionCloseAnySpelling). It is called once the answer is
// in ctx, a streamed one too, and before fasthttp reads the mark.
func connClose(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
}

// finish recovers a panic of the handler. With none, end has settled the
// request (x may be another request's by now) or its stream will: it
// touches nothing. A panic of end's settling (x.settling) is recorded as
// settled records one; any other, of decide or forward, is answered 500
// and the request then settled, unless its response body is streaming.
func (s *Server) finish(ctx *fasthttp.RequestCtx, x *exchange) {
	p := recover()
	if p == nil {
		return
	}
	if x.settling {
		s.recordPanicked(ctx, x, p)
		s.ready(ctx, x)
		return
	}
	s.answerPanic(ctx, x, p)
	s.afterAnswer(ctx, x)
}

// finishError is finish for errorHandler, whose body does not call end:
// it recovers a panic of the body, then settles the request.
func (s *Server) finishError(ctx *fasthttp.RequestCtx, x *exchange) {
	if p := recover(); p != nil {
		s.answerPanic(ctx, x, p)
	}
	s.afterAnswer(ctx, x)
}

// answerPanic answers 500 for x, whose decision or forwarding panicked
// with p.
func (s *Server) answerPanic(ctx *fasthttp.RequestCtx, x *exchange, p any) {
	if x.body != nil {
		x.body.detach() // a body started or streaming: its connection is closed
	}
	if x.mono == 0 {
		// Reading the clock panicked (Config.Clock): the request
		// is recorded at the real time, taking no time.
		x.mono, x.wall = limiter.Now(), time.Now().UnixNano()
		x.at = x.wall
	}
	s.panicked(ctx, x, p)
}

// afterAnswer settles x, answered by errorHandler or after a panic,
// unless its response body is streaming: then the stream's Close settles
// it. Deferred, so it runs when the handler panicked too; settle recovers
// a panic of its own.
func (s *Server) afterAnswer(ctx *fasthttp.RequestCtx, x *exchange) {
	if x.hdr.close {
		connClose(ctx)
	}
	if x.body != nil && x.body.armed {
		return
	}
	s.settle(ctx, x)
}

// settle frees the concurrency slot, writes the audit record and counts
// the request, for a caller outside the handler's recover (a stream's
// Close, afterAnswer). A panic here (a sink's Swap, the metrics) is
// answered like one in decide or forward: fasthttp recovers nothing, and
// a panic that leaves the handler ends the process (issue 13, item 1).
func (s *Server) settle(ctx *fasthttp.RequestCtx, x *exchange) {
	defer s.settled(ctx, x)
	s.release(ctx, x)
}

// release frees the request's slots, writes its record and readies x
// for its next request: settle and end, without the recover.
func (s *Server) release(ctx *fasthttp.RequestCtx, x *exchange) {
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
	if x.public {
		x.public = false
		s.public.Add(-1)
	}
	if x.tenantSlot != nil {
		x.tenantSlot.Add(-1)
		x.tenantSlot = nil
	}
	s.unhold(x) // roundTrip ends every hold; this is for one that panicked holding it
	s.record(ctx, x)
	// ready's body, written out to save the call (issue 18:
	// BenchmarkDecide): a panic above skips it, and the recover calls
	// ready.
	dropBigBody(&ctx.Request, x) // prebody.go
	if cap(x.path) > maxPooled || cap(x.uri) > maxPooled || cap(x.buf) > maxPooled || cap(x.delKey) > maxPooled {
		x.path, x.uri, x.buf, x.delKey = nil, nil, nil, nil
	}
	x.reset()
	if x.conn == nil {
		s.pool.Put(x)
	}
}

// settled recovers a panic of settle and readies x for its next request
// (ready), which release did when there was none.
func (s *Server) settled(ctx *fasthttp.RequestCtx, x *exchange) {
	if p := recover(); p != nil {
		s.recordPanicked(ctx, x, p)
		s.ready(ctx, x)
	}
}

// recordPanicked handles a panic p of settling x. The record that was
// being handed over may be the sink's by now, so x gets a new one. A
// request errorHandler answered (x.early) keeps its answer, a 4xx decided
// and in ctx already: its record's panic turned it into a 500
// (TestErrorHandlerRecordPanicKeepsItsAnswer).
func (s *Server) recordPanicked(ctx *fasthttp.RequestCtx, x *exchange, p any) {
	x.rec = new(audit.Record)
	s.metrics.auditDropped.Add(1)
	if x.early {
		s.metrics.panics.Add(1)
		logPanic(&s.log, p, "recording a refused request panicked; its answer kept", x.logRequestID)
	} else {
		s.panicked(ctx, x, p)
	}
}

// ready readies a settled x for its next request: reset for its
// connection, or back to the pool.
func (s *Server) ready(ctx *fasthttp.RequestCtx, x *exchange) {
	dropBigBody(&ctx.Request, x) // prebody.go
	// Buffers a huge request grew are dropped, so they do not pin memory
	// for the life of a connection or the pool. Here, not in a function of
	// its own, to save the call (issue 18: BenchmarkDecide).
	if cap(x.path) > maxPooled || cap(x.uri) > maxPooled || cap(x.buf) > maxPooled || cap(x.delKey) > maxPooled {
		x.path, x.uri, x.buf, x.delKey = nil, nil, nil, nil
	}
	x.reset()
	if x.conn == nil {
		s.pool.Put(x)
	}
}

// panicked answers 500 for a request whose handling panicked with p, logs
// it (logPanic: its type and place, not its value) and counts it.
func (s *Server) panicked(ctx *fasthttp.RequestCtx, x *exchange, p any) {
	s.metrics.panics.Add(1)
	if len(x.reqID) == 0 {
		// It panicked before step 1 (reading the clock): the answer
		// carries a request id all the same, as DESIGN.md's shape says.
		s.requestID(x)
	}
	logPanic(&s.log, p, "handler panicked; answered 500", x.logRequestID)
	s.deny(ctx, x, audit.InternalError)
}

// recovered counts and logs a panic p recovered in a callback outside
// the handler (where names it: a TLS handshake, the audit of its
// refusal), which answered what it could. The log line names no request,
// and the panic by its type and place only, as panicked's (logPanic).
func (s *Server) recovered(where string, p any) {
	s.metrics.panics.Add(1)
	logPanic(&s.log, p, "callback panicked; recovered", func(ev *zerolog.Event) *zerolog.Event { return ev.Str("in", where) })
}

// logRequestID adds x's request id to a log line (of its panic, logPanic;
// of its upstream failure): request_id when the sidecar made it, else
// request_id_sha256, the first 8 bytes of the SHA-256 of the client's
// X-Request-ID in hex. The client's id is its own bytes, and a secret
// other than an API key fits one (sk_live_...); the audit record holds
// it, and the digest finds its record (TestLogLinesHoldNoClientRequestID).
func (x *exchange) logRequestID(ev *zerolog.Event) *zerolog.Event {
	if !x.clientID {
		return ev.Bytes("request_id", x.reqID)
	}
	sum := sha256.Sum256(x.reqID)
	return ev.Hex("request_id_sha256", sum[:8])
}

// unrecorded reports whether the policy's strict audit mode refuses x:
// no record, no service.
func (s *Server) unrecorded(x *exchange) bool {
	return x.snap.AuditStrict && (s.cfg.Audit == nil || !s.cfg.Audit.Accepting())
}

// policyStale reports whether the policy refuses a credentialed request
// at now (unix nanoseconds) because the sidecar has not heard from etcd
// for longer than staleness.max_age (staleness.action: deny). The test
// of the policy is inlined into the callers, the clocks behind a call
// (issue 18: BenchmarkDecide).
func (s *Server) policyStale(x *exchange, now, mono int64) bool {
	return s.cfg.Watching && x.snap.StaleDeny && x.snap.StaleAfter > 0 && s.unheardFor(x, now, mono)
}

// unheardFor is policyStale for a policy that denies when stale.
func (s *Server) unheardFor(x *exchange, now, mono int64) bool {
	// Either clock past the bound is stale: measured on the wall clock
	// alone, a step back stretched the bound by the step
	// (TestPolicyStaleAfterWallClockStepsBack); on the monotonic clock
	// alone, a simulated wall clock (Config.Clock) would not move it.
	bound := int64(x.snap.StaleAfter)
	return now-s.store.HeardAt() > bound || mono-limiter.At(s.store.HeardTime()) > bound
}

// decide runs steps 1 to 6 of the request path (docs/trust-boundary.md),
// on the one snapshot it loads, and returns the decision.
func (s *Server) decide(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	h := &ctx.Request.Header
	// The snapshot and the tables prepare built for it (prepare.go), in
	// one load, for the whole request.
	x.prep = s.prepared.Load()
	x.snap = x.prep.snapshot()
	// 1. Headers checked in one pass (headers.go); the request id kept or
	// made (requestid.go); behind a trusted proxy, the source address
	// from X-Forwarded-For (source.go). The one pass runs over every
	// head, one refused as ended badly too (requestHeaders.refused), so that its request
	// id is the client's wherever it is decided, as errorHandler names
	// such a head whose body failed: it made one
	// (TestEndedBadlyHeadKeepsRequestID).
	scanned := scanHeaders(h.RawHeaders(), &x.hdr)
	ok := !x.hdr.refused.ofHead() && crlfEnd(h.RawHeaders()) && scanned && listsOK(h, x) && versionOK(h) && // headend.go, headerlist.go
		policyHeaders(h.RawHeaders(), x.snap, &x.hdr) // tenantheader.go
	s.requestID(x)
	if ok && x.snap != nil && len(x.snap.TrustedProxies) > 0 {
		x.peer, ok = s.sourceAddr(ctx, x)
	}
	if ok && x.hdr.expect && expectUnmet(h.RawHeaders()) {
		// An expectation other than one "100-continue" (size.go), with
		// or without a policy, once the rest of step 1 (the forwarded
		// source too) passed, as expect answers it for a request with a
		// body: this one has none, and fasthttp did not ask.
		return audit.ExpectationFailed
	}
	if x.snap == nil { // not when draining: a request that reaches us is served (issue 13, item 5)
		return noPolicy(x)
	}
	if !ok {
		return audit.BadRequest
	}
	// 2. Route, on the target normalised once (route.go).
	if d := s.routeRequest(ctx, x); d != audit.Allowed || x.hdr.refused == refusalTrailer {
		return trailerRefused(x, d)
	}
	// 3. Body size against the route's class (size.go); no content on a
	// GET, HEAD, DELETE or OPTIONS unless the route takes it. A request
	// without a body has neither to check.
	body := x.bodyIn
	if body {
		if d := bodySize(ctx, x); d != audit.Allowed {
			return d
		}
		if contentRefused(&ctx.Request, x.route) {
			return audit.BadRequest
		}
	}
	// A method override parameter in the query or a form body would have
	// the service run another method than the one routed (override.go);
	// on a route that binds {tenant}, a tenant parameter another tenant
	// than the path's (tenantparam.go). A request with neither a query nor
	// a body carries no parameter: no call.
	if (len(x.query) > 0 || body) && overrideParam(&ctx.Request, x.query, body, x.hdr.coded, x.route.TenantSeg != 0) {
		return audit.BadRequest
	}
	// And on such a route a tenant cookie, or a name the policy lists (tenantRefused).
	if x.route.TenantSeg != 0 && tenantRefused(x, &ctx.Request, h.RawHeaders(), body) {
		return audit.BadRequest
	}
	// Strict audit mode: no record, no service (public routes included).
	if s.unrecorded(x) {
		return audit.AuditUnavailable
	}
	// 6, for a public route: one of the slots public routes share, so
	// that requests without a credential hold a bounded part of the
	// upstream connections (limit.go).
	if x.route.Public {
		if !tenantHeaderOK(x) { // no caller, no tenant to name (tenantheader.go)
			return audit.BadRequest
		}
		return s.limitPublic(x)
	}
	if s.policyStale(x, x.wall, x.mono) {
		return audit.PolicyStale
	}
	// 4. Credential: API key or token, revocation, suspension (credential.go).
	if d := s.authenticate(x); d != audit.Allowed {
		return d
	}
	// 5. Authorize: scopes, then privileged-class rules (authorize.go).
	if d := s.authorize(x); d != audit.Allowed {
		return d
	}
	// 6. Limits, then the concurrency slot (limit.go). On a route that
	// requires one, a use of the approval (approval.go) is reserved
	// later, last of all, and spent only once the request has been
	// judged with its upstream connection in hand (Server.roundTrip), so
	// that a request refused for any reason uses none. A request that names no approval, or a malformed id, is
	// refused before the limits: the ledger is never asked for it, and it
	// must not hold a slot or a place in the class's queue
	// (TestApprovalLessRequestTakesNoQueuePlace).
	if x.route.Approval != nil && !validApprovalID(x.hdr.approval) {
		return audit.ApprovalRequired
	}
	d := s.limit(x)
	if d == audit.Allowed && s.prepared.Load() != x.prep {
		// The tables changed while the request was decided, in the
		// queue of its class above all: decided again (recheck.go).
		d = s.decideAgain(ctx, x)
	}
	if d == audit.Allowed && x.route.Approval != nil && s.cfg.Approvals == nil {
		// No ledger (a sidecar on a policy file): refused now, without an
		// upstream connection; nothing is spent.
		return s.approve(ctx, x)
	}
	return d
}

// trailerRefused returns d, the decision of routing x, or BadRequest for
// a chunked body whose trailer section ended badly (refusalTrailer),
// which fasthttp read whole all the same (a CRLF CRLF came after the bad
// end in the same read), or holds names trailersOK refuses (listsOK):
// refused whatever its route, after step 1, the path and the route name
// it as errorHandler names such a request whose body's read the bad end
// failed (TestRestoredBadRequestNamesTheRoute). It is checked here, not
// with the body: fasthttp gives an empty chunked body a Content-Length of
// 0, which has no body to check (hasBody), and such a request was served
// (TestBadTrailerNamesTheHead).
func trailerRefused(x *exchange, d audit.Decision) audit.Decision {
	if x.hdr.refused == refusalTrailer {
		return audit.BadRequest
	}
	return d
}

// noPolicy is decide's answer to x with no policy loaded: NotReady
// (503), unless the bytes of the request were framed wrong, its head or
// its chunked body's trailer section ended badly (requestHeaders.refused),
// which is the client's fault whatever the policy: 400, as errorHandler
// answers such a request whose read the bad end failed. The handler
// answered one read whole 503, errorHandler the same request 400
// (TestFramingFailureWithoutPolicyIs400; docs/trust-boundary.md).
func noPolicy(x *exchange) audit.Decision {
	if x.hdr.refused != refusalNone {
		return audit.BadRequest
	}
	return audit.NotReady
}
