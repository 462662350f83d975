package dataplane

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
	// refusalPanicked: the header hook panicked on the head
	// (headerPanicked), which refused its body past one byte whatever its
	// size: bodyRefused answers it 413 once its head and route are
	// checked (TestHeaderHookPanicDeclaredBody).
	refusalPanicked
	// refusalNotReady: no policy was loaded when the head was checked
	// (notReady): 503, whatever policy is loaded by its answer
	// (TestPolicyLoadedAfterHeadCheckIs503).
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
	c.pre = preRefusal{} // the handler decides it (prebody.go)
}
