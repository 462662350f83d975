package dataplane

import (
	"bytes"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// bodySize is step 3 of the request path: a body over the limit of the
// route's class is refused. A declared length is checked as declared; a
// chunked body (-1) by what was read, which headerReceived already capped
// before reading it.
func bodySize(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	cl := int64(ctx.Request.Header.ContentLength())
	if cl > x.route.Class.MaxBody || cl == -1 && int64(len(ctx.Request.Body())) > x.route.Class.MaxBody {
		return audit.BodyTooLarge
	}
	return audit.Allowed
}

// hasBody reports whether the request came with a body: a Content-Length
// above 0, or chunked (-1). fasthttp gives -2 for a request without
// either; asking it is cheaper than Request.Body.
func hasBody(h *fasthttp.RequestHeader) bool {
	cl := h.ContentLength()
	return cl != -2 && cl != 0
}

// contentRefused reports whether the request carries content (a
// Content-Length above 0, or a chunked body that is not empty) on a method
// whose content has no defined semantics, GET, HEAD, DELETE or OPTIONS
// (RFC 9110 section 9.3), on a route without allow_body. Many servers
// never read such a body and parse the next request from its first byte:
// forwarded, it was a request the sidecar never checked, with any
// identity headers it liked (CL.0 smuggling). An empty chunked body goes
// on as no body at all (the sidecar frames what it forwards). TRACE has
// no route (policy.Match), so it never gets here.
func contentRefused(req *fasthttp.Request, r *policy.Route) bool {
	h := &req.Header
	if cl := h.ContentLength(); r.AllowBody || cl == 0 || cl == -2 || cl == -1 && len(req.Body()) == 0 {
		return false
	}
	return h.IsGet() || h.IsHead() || h.IsDelete() || h.IsOptions()
}

// contentDeclared is contentRefused before the body is read, on headers
// h alone: they declare content (a Content-Length above 0, or chunked)
// that route r would refuse. Such a request is refused before its body is
// read and before any 100 Continue (prebody.go); a chunked body that
// turns out empty cannot be told from its headers, so with Expect it is
// refused too.
func contentDeclared(h *fasthttp.RequestHeader, r *policy.Route) bool {
	cl := h.ContentLength()
	return !r.AllowBody && (cl > 0 || cl == -1) && (h.IsGet() || h.IsHead() || h.IsDelete() || h.IsOptions())
}

// headerReceived is step 3 run early, by fasthttp before it reads a body
// (its HeaderReceived hook): it caps the body at the limit of the
// request's class, so an oversized declared body gets 413 without being
// read; refuses a body larger than preBodyFree of a request with no
// route or no verified credential (prebody.go), so nothing is allocated
// for a body before its sender is known; and gives the body ReadTimeout
// (the headers had HeaderTimeout). Small bodies that fit every class need
// no routing here. A request's Expect is readied for fasthttp's check
// of it, which follows (continueAnyCase, noContent).
//
// An HTTP/1.1 request without a body or Expect, most requests, has
// nothing done to it, and returns before the deferred recover (headCheck)
// that nothing it runs could need: asking it for Expect (noContent) cost
// less than the defer it skips (BenchmarkHeaderReceived).
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	cl := int64(h.ContentLength())
	if (cl == -2 || cl == 0) && h.IsHTTP11() && h.PeekCanonical(expectName) == nil {
		return fasthttp.RequestConfig{} // the header deadline stands
	}
	return s.headCheck(h, cl)
}

// headCheck is headerReceived for a request with a body (cl bytes, -1:
// chunked), Expect, or of HTTP/1.0, under a recover (headerPanicked).
func (s *Server) headCheck(h *fasthttp.RequestHeader, cl int64) (rc fasthttp.RequestConfig) {
	defer s.headerPanicked(h, &rc)
	// The body's framing is followed first, whatever cuts this short (no
	// policy yet, a panic), so that no request's body is left unfollowed
	// (trailerend.go, TestBareLFTrailerNotReadyRefusedAtOnce).
	if cl > 0 || cl == -1 {
		s.followBody(h, cl) // trailerend.go
		if !continueAnyCase(h) {
			// expect answers it 417, its body unread: no check before
			// the body, whose credential would be charged for nothing.
			return fasthttp.RequestConfig{MaxRequestBodySize: refuseBody}
		}
	} else if !h.IsHTTP11() {
		continueAnyCase(h) // an HTTP/1.0 100-continue is ignored, body or not
	} else if h.PeekCanonical(expectName) != nil {
		noContent(h)
	}
	p := s.prepared.Load()
	if p == nil {
		return s.noPolicyYet(h, cl)
	}
	if cl == -2 || cl == 0 {
		return fasthttp.RequestConfig{} // no body: the header deadline stands
	}
	if cl > 0 && cl <= min(p.minBody, preBodyFree) {
		return fasthttp.RequestConfig{ReadTimeout: s.cfg.ReadTimeout}
	}
	if c := connOfHeader(h); c != nil {
		// A body refused for its size past this limit is decided on
		// the tables that set it (errorHandler, expect).
		c.headPrep = p
	}
	limit, _ := s.preBodyLimit(p, h, cl, preBodyFree) // prebody.go: route and credential first
	if cl == -1 {
		s.budgetChunks(h, limit) // chunkbudget.go
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: int(max(limit, 1)), ReadTimeout: s.cfg.ReadTimeout}
}

// noPolicyYet is headCheck for head h, of a body of cl bytes (-1:
// chunked, 0 or -2: none), with no policy loaded. A body of more than
// refuseBody bytes, declared or chunked, with Expect or without, is
// refused unread, 503 (notReady): its limit is the policy's, and a
// client that waits for 100 Continue gets none. A body of one byte,
// which the limit refuseBody lets through, is decided on the policy
// loaded by then: by the handler, and with Expect by expect first, after
// whose 100 it is read. Both answers are the same with Expect or
// without (TestNoPolicyAtHeadCheckSameWithOrWithoutExpect): a declared
// body with Expect was decided by expect on the policy loaded by then
// whatever its size, where the same two bytes without it were 503.
func (s *Server) noPolicyYet(h *fasthttp.RequestHeader, cl int64) fasthttp.RequestConfig {
	if cl > 0 && cl <= refuseBody && h.IsHTTP11() && h.PeekCanonical(expectName) != nil {
		return fasthttp.RequestConfig{MaxRequestBodySize: refuseBody, ReadTimeout: s.cfg.ReadTimeout}
	}
	if cl > 0 || cl == -1 {
		s.notReady(h) // refusal.go
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: refuseBody}
}

// headerPanicked recovers a panic of headerReceived on head h, which
// fasthttp calls outside the handler: the request may carry no body, so
// one that has a body is refused, and the handler answers the rest. Its
// connection is marked (refusalPanicked) so that errorHandler answers
// a body so refused 413, whatever its size.
func (s *Server) headerPanicked(h *fasthttp.RequestHeader, rc *fasthttp.RequestConfig) {
	if p := recover(); p != nil {
		s.checkPanicked(h, p)
		*rc = fasthttp.RequestConfig{MaxRequestBodySize: 1}
	}
}

// checkPanicked counts and logs panic p of the check of head h before
// its body (headerPanicked, expectBody), and marks its connection
// (refusalPanicked): its body is refused past one byte, 413.
func (s *Server) checkPanicked(h *fasthttp.RequestHeader, p any) {
	s.metrics.panics.Add(1)
	logPanic(&s.log, p, "header check panicked; request body refused", nil)
	if c := connOfHeader(h); c != nil {
		c.pre.refuse(refusalPanicked)
	}
}

// continueAnyCase readies a request's expectation for fasthttp, which
// looks at it after this hook and heeds only a first Expect line that is
// "100-continue" as written (MayContinue). RFC 9110 section 10.1.1 makes
// the expectation case-insensitive: "100-Continue" is written in lower
// case, in place, in the header map fasthttp parsed it into (the raw head
// is left as it came; the upstream never gets Expect: forward.go). Such a
// request got no 100 (the client waited for one until it sent its body
// anyway), a body up to preBodyFree was read before its credential was
// checked, and on HTTP/1.0 it was not refused (TestExpectContinueAnyCase).
//
// An expectation the sidecar does not meet (expectUnmet: another one, a
// list, an empty value, Expect listed twice) has its first value set to
// "100-continue", so that fasthttp hands the request to expect, which
// answers it 417 before any of its body is read. fasthttp read such a
// body as if no expectation came, so that a client waiting for the answer
// before sending it waited for the read timeout, and a second Expect line
// after a first "100-continue" got its 100 (TestExpectOtherThanContinueIs417).
// It reports false for such a request, which is not checked further
// before its body. Of HTTP/1.1, only a request with a body is asked: one
// without has none to wait for (noContent), and the handler refuses it (decide).
// An HTTP/1.0 request's "100-continue", in any case, body or not, is
// ignored (below); another expectation is answered 417 as on HTTP/1.1
// (RFC 9110 section 10.1.1 allows it whatever the version).
func continueAnyCase(h *fasthttp.RequestHeader) bool {
	v := h.PeekAll(fasthttp.HeaderExpect) // fasthttp's buffer: no allocation
	switch {
	case len(v) == 0:
	case expectUnmet(h.RawHeaders()):
		if !bytes.Equal(v[0], continue100) {
			h.SetBytesV(fasthttp.HeaderExpect, continue100)
		}
		return false
	case !h.IsHTTP11():
		// RFC 9110 section 10.1.1: a server MUST ignore a 100-continue
		// expectation in an HTTP/1.0 request. Taken out of fasthttp's
		// map (the raw head keeps it; the upstream never gets Expect),
		// its body is read as if none came, after the check before
		// the body, and no 100 is written: HTTP/1.0 has no 1xx. It was
		// refused, 400 (TestExpectFromHTTP10Ignored).
		h.Del(fasthttp.HeaderExpect)
	case !bytes.Equal(v[0], continue100):
		copy(v[0], continue100) // the same length, in another case (expectUnmet)
	}
	return true
}

// continue100 is the expectation fasthttp answers (MayContinue).
var continue100 = []byte("100-continue")

// expectName is Expect as fasthttp keeps a header's name (normalised),
// for PeekCanonical, which skips normalising a copy of the name as Peek
// does: headerReceived asks it of every HTTP/1.1 request without a body.
var expectName = []byte(fasthttp.HeaderExpect)

// noContent readies the expectation of an HTTP/1.1 request without a
// body (no Content-Length, or 0, and not chunked) for fasthttp: one
// "100-continue", in any case, is taken out of fasthttp's header map
// (the raw head keeps it; the upstream never gets Expect: forward.go),
// so the request is served as one without Expect. RFC 9110 section
// 10.1.1 lets a server omit the 100 when the framing says there is no
// content, and such a client has nothing to wait for. fasthttp heeds
// only "100-continue" as written: that spelling got "100 Continue"
// before its answer and was checked by expect as if a body were to
// come, a refusal answered there and the connection closed, so the
// requests pipelined behind it went unanswered, while "100-Continue"
// was served as without Expect (TestExpectWithoutBodyAnyCase). An
// expectation the sidecar does not meet (expectUnmet) is left as it
// came: 417, from expect when fasthttp heeds its first line, else from
// the handler (decide).
func noContent(h *fasthttp.RequestHeader) {
	if !expectUnmet(h.RawHeaders()) {
		h.Del(fasthttp.HeaderExpect)
	}
}

// expectUnmet reports whether the head raw asks an expectation the
// sidecar does not meet (RFC 9110 section 10.1.1): an Expect line whose
// value is other than "100-continue" in any case (another expectation, a
// list, none, a value folded onto the next line), or more than one
// Expect line. Such a request is answered 417 expectation_failed, before
// any body is read (expect, decide), once the rest of step 1 takes its
// head (errorHandler).
func expectUnmet(raw []byte) bool {
	n := 0
	folded := false // the line before was an Expect line
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if folded && len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			// obs-fold: its value goes on, "100-continue foo" to
			// fasthttp, which sent no 100 and read the body
			// (TestExpectUnmetAfterHeadCheck); step 1 refuses the
			// fold (errorHandler, decide).
			return true
		}
		folded = false
		k := tokenLen(line)
		if k != len("Expect") || k == len(line) || line[k] != ':' || nameKey(line[:k]) != keyExpect {
			continue
		}
		if n++; n > 1 {
			return true
		}
		folded = true
		if v := trimOWS(line[k+1:]); !bytes.EqualFold(v, continue100) {
			return true
		}
	}
	return false
}
