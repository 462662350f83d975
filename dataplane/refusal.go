package dataplane

import (
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// refusal is what the request being read was refused for before the
// handler could decide it whole: by the connection that read it (a head
// or trailer section that ended badly: headend.go, trailerend.go), or by
// the check before its body (preDecide, notReady, headerPanicked). It is
// set in one place, preRefusal.refuse, kept on the connection (conn.pre)
// and handed to the request's exchange by begin (requestHeaders.refused),
// where the handler reads it; errorHandler, expect and bodyRefused read
// the connection's copy. It replaced a Decision (conn.refused) and five
// flags (conn.trailerBad, preRefusal.head, .size, .panicked,
// requestHeaders.badTrailer) that had to be set and cleared in order.
//
// The kinds are ranked: a later finding replaces an earlier one only
// when it ranks higher (refuse), so whatever order the connection and
// the check before the body find them in, the request is answered for
// the same one. A trailer section that ended badly ranks highest: it is
// the body's failure, refused 400 after step 1 and the route name the
// request (TestBadTrailerNamesTheHead), which also refuses a head step 1
// refuses, as the handler's step 1 does.
type refusal uint8

const (
	// refusalNone: nothing refused before the handler.
	refusalNone refusal = iota
	// refusalSize: the check before the body passed a request with a
	// body and kept its names (preRefusal), should fasthttp refuse a
	// chunked one past its class's max_body, its headers gone: 413,
	// recorded with the route (TestChunkedOverLimitRecordIsTheHandlers).
	refusalSize
	// refusalPanicked: the header hook, or the check expect runs,
	// panicked on the head (headerPanicked, expectBody: checkPanicked),
	// which refused its body past one byte whatever its size:
	// bodyRefused answers it 413 once its head and route are checked
	// (TestHeaderHookPanicDeclaredBody, TestExpectCheckPanicIsRefused).
	refusalPanicked
	// refusalNotReady: no policy was loaded when the head of a body of
	// more than one byte was checked (notReady): 503, whatever policy is
	// loaded by its answer, with Expect or without (noPolicyYet,
	// TestPolicyLoadedAfterHeadCheckIs503).
	refusalNotReady
	// refusalDecided: the check before the body refused the request
	// after step 1 with preRefusal.d (no route, the query, strict audit,
	// a stale policy, the credential, authorize, the approval check),
	// answered with it and the caller it named.
	refusalDecided
	// refusalHeadEnd: the head's empty line was not CRLF CRLF
	// (headend.go): 400, its lines not read for step 1.
	refusalHeadEnd
	// refusalHead: the check before the body refused the head at step 1
	// (headRefused): 400, step 1 not run on it again, named by the source
	// that check found (preRefusal.peer), a refused cookie's answer kept
	// (conn.cookieDeny).
	refusalHead
	// refusalTrailer: the chunked body's trailer section ended otherwise
	// than in CRLF CRLF (trailerend.go), or holds names trailersOK
	// refuses (listsOK): 400 after step 1, the path and the route name
	// it.
	refusalTrailer
)

// bad reports whether k refuses the request 400 whatever else was found
// of it: its head, or its trailer section, ended badly or was refused.
func (k refusal) bad() bool { return k >= refusalHeadEnd }

// ofHead reports whether k refuses the head itself, which the handler
// then refuses without reading its lines for step 1 (decide).
func (k refusal) ofHead() bool { return k == refusalHeadEnd || k == refusalHead }

// refuse sets p's kind to k, unless p holds one that ranks higher.
func (p *preRefusal) refuse(k refusal) {
	if k > p.kind {
		p.kind = k
	}
}

// handOver hands the refusal c read the request of x with to x, for the
// handler (requestHeaders.refused), and clears it for the next request
// (begin). A head refused at step 1 is named by the source that check
// found, as decide finds it for the same head without a body (none for
// forwarded headers it refuses); a small chunked body's was the proxy's
// (TestRestoredHeadForwardedRefusalAsTheHandlers). Only a head refused
// keeps the answer naming a refused cookie (cookieDenial): a 400 closes
// its connection; any other request has its head read again.
func (c *conn) handOver(x *exchange) {
	switch k := c.pre.kind; k {
	case refusalHead:
		x.peer = c.pre.peer
		x.hdr.refused = k
	case refusalHeadEnd, refusalTrailer:
		x.hdr.refused = k
	}
	if !x.hdr.refused.ofHead() {
		c.cookieDeny = nil
	}
	c.pre = preRefusal{} // the handler decides it (handler.go)
}

// preRefusal is what a request was refused for before the handler (kind,
// the one refusal: refusal.go), and for a decision of the check before
// the body (preDecide), kept on its connection (conn.pre), what the
// handler's record would name of it: the route,
// the authentication method, the key id, the client (and so its tenant),
// a token's issuer and fingerprint (claims), the source behind a trusted
// proxy, a spent budget of failures' Retry-After, and the tables it was
// decided on; for a head refused at step 1 (refusalHead), the source that step
// found, which begin names it with (decide does not run step 1 on it
// again; its request id is the one pass's, as for any head). A chunked body
// refused past preBodyFree comes to errorHandler with its headers gone,
// which answers and records it with these (give), and with the head's
// names followBody kept (headNames): the method, the path, the
// User-Agent, the request id. It named the method GET, which fasthttp
// answers for a head reset, whatever the request's was (attack135,
// TestChunkedRefusalRecordsItsMethod), and no path ("-"), no User-Agent
// and a request id the sidecar made, in the answer too (chunkrec140,
// TestChunkedRefusalRecordIsTheHandlers). Pointers and fixed arrays:
// keeping it allocates nothing.
type preRefusal struct {
	kind   refusal        // what the request was refused for (refusal.go); none: not refused
	d      audit.Decision // refusalDecided's decision, or NotReady's, or BadRequest's of a head refused
	method audit.AuthMethod
	keyLen uint8
	key    [audit.MaxKeyID]byte
	prep   *prepared // the tables it was decided on, which route's class indexes
	route  *policy.Route
	client *policy.Client
	claims *jwt.Claims
	peer   netip.Addr
	retry  time.Duration // TokenFailuresLimited's
}

// keep sets p to decision d of exchange x, keeping its kind, which
// refuse sets.
func (p *preRefusal) keep(d audit.Decision, x *exchange) {
	*p = preRefusal{kind: p.kind, d: d, method: x.method, prep: x.prep, route: x.route, client: x.client, claims: x.claims, peer: x.peer}
	p.keyLen = uint8(copy(p.key[:], x.rec.KeyID()))
	if d == audit.TokenFailuresLimited {
		p.retry = x.limited.RetryAfter
	}
}

// give hands p's names of the caller to the exchange x answering a
// chunked body refused past its limit (preBodyLimit), with the tables
// and the policy it was decided on: the metrics index their class tables
// with the route's class (a policy swapped in since may have fewer), and
// the record names that policy's revision, as the handler's does. It
// returns the decision to answer with: p's, or, on a route whose class's
// max_body is within preBodyFree, whose body was refused past that limit,
// BodyTooLarge, which decide answers before the credential (bodySize),
// naming the route and the source only. Such a body was answered with
// the credential's decision past preBodyFree and 413 below it
// (attack135, TestChunkedRefusedOverSmallClassIs413).
func (p *preRefusal) give(x *exchange) audit.Decision {
	if p.route != nil && p.route.Class.MaxBody <= preBodyFree {
		return p.oversize(x)
	}
	return p.decided(x)
}

// oversize hands x the route, the source and the tables p kept of a
// chunked body refused past its class's max_body, and returns
// BodyTooLarge: decide refuses a body over the limit at step 3, before
// the credential, naming the route and the source only.
func (p *preRefusal) oversize(x *exchange) audit.Decision {
	x.prep, x.snap, x.route = p.prep, p.prep.snapshot(), p.route
	if p.peer.IsValid() {
		x.peer = p.peer
	}
	return audit.BodyTooLarge
}

// decided hands x p's decision with the names of the caller and the
// tables it was decided on (give), for a request whose headers fasthttp
// kept too (bodyRefused): its credential is not checked again.
func (p *preRefusal) decided(x *exchange) audit.Decision {
	x.prep, x.snap = p.prep, p.prep.snapshot()
	x.method, x.route, x.client, x.claims = p.method, p.route, p.client, p.claims
	if p.peer.IsValid() {
		x.peer = p.peer
	}
	x.rec.SetKeyID(p.key[:p.keyLen])
	x.limited.RetryAfter = p.retry
	return p.d
}

// notReady marks the connection of head h, of a request with a body
// whose check before the body found no policy loaded (headerReceived,
// which refuses the body unread), refused NotReady (conn.pre; the head's
// names for its record are followBody's, headNames): the state its head was
// checked in answers it, 503, as the handler answers a request that
// finds none. errorHandler took the policy as it found it: one loaded in
// between (the first policy's load racing the request) decided a chunked
// body past 16 KiB refused for its size, 413, and a declared one on that
// policy, whose credential then found its body fitting and answered 429
// token_failures_limited; with "Expect: 100-continue" after a 100
// (TestPolicyLoadedAfterHeadCheckIs503). A head that ended badly stays
// 400 (refusalTrailer, refusalHeadEnd rank above refusalNotReady).
func (s *Server) notReady(h *fasthttp.RequestHeader) {
	if c := connOfHeader(h); c != nil && !c.pre.kind.bad() {
		c.pre.d = audit.NotReady
		c.pre.refuse(refusalNotReady)
	}
}

// headRefused marks the connection of head h, when the sidecar accepted
// it, so that its request is answered 400 (errorHandler, begin) whatever
// fasthttp does with its body: a chunked one refused past preBodyFree
// comes to errorHandler with its headers gone. A head refused for a
// cookie of refuse_cookies (hdr, on the tables d) keeps the answer naming
// it on the connection too. It reports whether it marked one; preDecide
// then keeps the head's names for the record there too (conn.pre, with
// the decision BadRequest: begin clears it).
func headRefused(h *fasthttp.RequestHeader, d *prepared, hdr *requestHeaders) bool {
	c := connOfHeader(h)
	if c == nil {
		return false
	}
	c.pre.refuse(refusalHead)
	if i := int(hdr.badCookie); i > 0 && i <= len(d.cookieDeny) {
		c.cookieDeny = d.cookieDeny[i-1]
	}
	return true
}
