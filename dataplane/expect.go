package dataplane

import (
	"errors"

	"github.com/valyala/fasthttp"
)

// expect answers a request carrying "Expect: 100-continue" before its
// body is sent: 100 only when the body would be read (preBodyLimit, with
// the credential checked whatever the body's size, since the client is
// waiting anyway), else the final answer the request would get, recorded
// like any other (fasthttp then closes the connection). fasthttp's
// default sends 100 to everyone, before authentication; a GET with
// content used to get its 100 and have its body read before the 400
// (TestExpectContentRefusedBeforeContinue). An HTTP/1.0 request's
// "100-continue" never gets here: RFC 9110 section 10.1.1 says to ignore
// it, and headerReceived takes it out of fasthttp's map
// (continueAnyCase, TestExpectFromHTTP10Ignored). Should one get here
// all the same (headerReceived panicked), it is refused (400, closed),
// never answered 100: HTTP/1.0 has no 1xx, and a client or an
// intermediary of that version takes "100 Continue" for the final answer,
// so the real one would be read as the answer to its next request. An
// expectation the sidecar does not meet (expectUnmet) is answered 417
// expectation_failed first, of either version, unread and closed
// (TestExpectOtherThanContinueIs417).
func (s *Server) expect(ctx *fasthttp.RequestCtx) int {
	h := &ctx.Request.Header
	if expectUnmet(h.RawHeaders()) {
		// An expectation other than one "100-continue", which
		// headerReceived had fasthttp hand over (continueAnyCase): 417,
		// whatever the version, the policy or the body.
		s.errorHandler(ctx, errExpectUnmet)
		return ctx.Response.StatusCode()
	}
	if !h.IsHTTP11() {
		s.errorHandler(ctx, errExpectHTTP10)
		return ctx.Response.StatusCode()
	}
	cl := int64(h.ContentLength())
	d := s.prepared.Load()
	if c := ownConn(ctx.Conn()); c != nil {
		if k := c.pre.kind; k != refusalNone && k != refusalSize {
			// headerReceived refused it (preDecide): decided on the
			// same headers, whose token would be charged again
			// (TestRefusedUploadChargesTheTokenOnce); or it panicked,
			// and its body is refused past one byte: no 100 for it.
			s.errorHandler(ctx, fasthttp.ErrBodyTooLarge)
			return ctx.Response.StatusCode()
		}
		if c.headPrep != nil {
			// The tables headerReceived set the body's limit on: a
			// policy raising max_body swapped in since got the body a
			// 100 that limit then refused (conn.headPrep).
			d = c.headPrep
		}
	}
	if d != nil && s.expectBody(d, h, cl) {
		return fasthttp.StatusContinue
	}
	s.errorHandler(ctx, fasthttp.ErrBodyTooLarge)
	return ctx.Response.StatusCode()
}

// expectBody reports whether the body of cl bytes that head h expects to
// send would be read (preBodyLimit, on the tables d), under a recover:
// fasthttp calls expect outside any, and the check it runs is the header
// hook's, which may panic as that hook's may (headerPanicked). A panic of
// the check, which a small declared body meets here first (the header
// hook skips it for a body that fits every class), took the whole
// sidecar down (TestExpectCheckPanicIsRefused); it refuses the
// body as the hook's does: no 100, 413 once its head and route are checked
// (refusalPanicked, bodyRefused).
func (s *Server) expectBody(d *prepared, h *fasthttp.RequestHeader, cl int64) (read bool) {
	defer func() {
		if p := recover(); p != nil {
			s.checkPanicked(h, p)
			read = false
		}
	}()
	limit, refused := s.preBodyLimit(d, h, cl, -1)
	return !refused && cl <= limit
}

// errExpectHTTP10 refuses an Expect in an HTTP/1.0 request (expect).
//
//lint:ignore ST1005 Expect is the header's name, spelt as RFC 9110 spells it
var errExpectHTTP10 = errors.New("Expect in an HTTP/1.0 request")

// errExpectUnmet refuses an expectation the sidecar does not meet
// (expectUnmet): errorHandler answers it 417 expectation_failed.
//
//lint:ignore ST1005 Expect is the header's name, spelt as RFC 9110 spells it
var errExpectUnmet = errors.New("Expect other than one 100-continue")
