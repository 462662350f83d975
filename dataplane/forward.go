package dataplane

import (
	"bytes"
	"errors"
	"time"
	"unsafe"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// forward, step 7 of the request path, sends the admitted request to the
// upstream with the normalised target, without hop-by-hop, credential and
// forged identity headers, and with the identity headers the upstream may
// trust.
func (s *Server) forward(ctx *fasthttp.RequestCtx, x *exchange) {
	req := &ctx.Request
	// A request that came over TLS goes to the upstream as plain HTTP
	// too: what is written is the request line with the target
	// prepareRequest set and the headers, never a scheme (the URI is not
	// parsed again, see roundTrip).
	s.prepareRequest(req, x)
	if x.body == nil {
		x.body = new(responseBody)
	}
	got, judged, err := s.roundTrip(ctx, x)
	if judged != audit.Allowed {
		s.deny(ctx, x, judged)
		return
	}
	if err != nil {
		d := audit.UpstreamError
		switch {
		case errors.Is(err, fasthttp.ErrTimeout):
			d = audit.UpstreamTimeout
		case err == errResponseTooLarge:
			d = audit.ResponseTooLarge
		case errors.Is(err, fasthttp.ErrNoFreeConns):
			// The pool's wait (MaxConnWaitTimeout) ran out with every
			// connection busy: the service is saturated, not broken, so
			// the client is told to come back (503, Retry-After) rather
			// than that the service failed (502).
			d = audit.UpstreamSaturated
			s.metrics.saturated.Add(1)
		}
		s.logUpstreamError(err, x)
		s.deny(ctx, x, d)
		return
	}
	x.rec.Decision = audit.Allowed
	if got.scrub {
		scrubResponse(&ctx.Response.Header, x)
	}
	ctx.Response.Header.SetCanonical(hdrRequestID, x.reqID)
	switch {
	case got.streamed && x.body.toClose(req):
		s.streamToClose(ctx, x) // stream10.go: HTTP/1.0, unknown length
	case got.streamed:
		s.stream(ctx, x)
	}
}

// roundTrip takes an upstream connection, sends the request on it and
// reads the response (origin.readResponse). The request goes out as the
// data plane left it: prepareRequest set its target, already normalised,
// and its Host, so the URI is never parsed again (a parse and a re-render
// of the target per request). A pooled connection with bytes already
// waiting (or closed or reset by the service) is closed and the next one
// taken. Taking one may wait (the pool's cap, a dial), so the request is
// judged again with each in hand, at the time it was got (sendable,
// recheck.go): refused, its answer is judged, the connection goes back
// unused (putBack) and nothing is sent. A request whose route requires
// an approval reserves a use of it then, without the connection, takes
// one again and is judged again; it spends the use with that connection
// in hand, just before it is sent (spend, approval.go), or gives it
// back when refused.
func (s *Server) roundTrip(ctx *fasthttp.RequestCtx, x *exchange) (answer, audit.Decision, error) {
	u, req, resp := s.upstream, &ctx.Request, &ctx.Response
	resp.Reset()
	// Reset turned off the server's NoDefaultContentType: a response the
	// service sent without Content-Type went on with "text/plain;
	// charset=utf-8" (TestResponseGetsNoContentTypeAdded).
	resp.Header.SetNoDefaultContentType(true)
	for {
		cc, c, at, err := u.conn(req.ConnectionClose())
		if err != nil {
			s.unhold(x)
			return answer{}, audit.Allowed, err
		}
		if d := s.sendable(ctx, x, at); d != audit.Allowed {
			u.putBack(cc, c)
			s.unhold(x)
			return answer{}, d, nil
		}
		committing := x.hold != nil
		switch s.spend(x) {
		case approvalDone:
			if committing {
				// The connection waited with the request for the ledger's
				// etcd round trips (Commit): one dialed for it sat idle as
				// long, and a service that answers an idle connection 408
				// and closes it had done so; written unchecked, the
				// request took that 408 as its answer
				// (TestConnectionCheckedAfterCommit). Checked as a
				// pooled one is (send).
				u.markUsed(c)
				// Its timeouts run from now, not from when it was taken:
				// round trips as long as the upstream timeout left the
				// request a deadline already past, answered 504 unasked
				// (TestUpstreamDeadlinesCountFromAfterCommit).
				at = time.Now()
				if err := readBy(c, at.Add(u.readTimeout), u.readTimeout); err != nil {
					u.close(cc)
					return answer{}, audit.Allowed, err
				}
			}
		case approvalReserve:
			// A use of the approval is reserved once the request passed
			// the judgement at send time, without the connection, which
			// goes back unused to the pool for the etcd round trips: held,
			// every request waited on etcd with the pool at its cap
			// (TestApprovalSpentWithoutHoldingUpstreamConnection). The
			// request then takes a connection and is judged again, as
			// every request is: refused then (a revocation within the
			// round trips and that wait), the use goes back (spend).
			u.putBack(cc, c)
			if d := s.approve(ctx, x); d != audit.Allowed {
				return answer{}, d, nil
			}
			continue
		case approvalRefused:
			u.putBack(cc, c)
			return answer{}, audit.ApprovalRequired, nil
		}
		stray, err := u.send(c, req, &x.out, at)
		switch {
		case stray:
			u.stale.Add(1)
			u.close(cc)
			continue
		case err != nil:
			u.close(cc)
			return answer{}, audit.Allowed, err
		}
		got, err := u.readResponse(cc, c, req, resp, x.body, s.responseLimit(x))
		return got, audit.Allowed, err
	}
}

// prepareRequest turns the admitted request into the one the upstream
// gets: the normalised target; no trailers, hop-by-hop, X-Portcullis-*,
// dropNames or credential headers (unless the token's issuer says
// forward_token); the Host the policy names; the X-Forwarded-For the
// sidecar computed; and the identity headers of this request, each set
// afresh or absent.
func (s *Server) prepareRequest(req *fasthttp.Request, x *exchange) {
	h := &req.Header
	x.uri = append(x.uri[:0], x.path...)
	if len(x.query) > 0 {
		x.uri = append(append(x.uri, '?'), x.query...)
	}
	req.SetRequestURIBytes(x.uri)
	// Every header goes through delHeader, which keeps the order of the
	// lines left (RFC 9110 section 5.3); fasthttp's Del does not.
	if x.hdr.hop {
		delListed(h, x)
		for _, name := range hopByHop {
			delHeader(h, ro(name), x)
		}
	}
	if !h.IsHTTP11() {
		// An HTTP/1.0 request goes on without the client's keep-alive (a
		// hop-by-hop option), so its connection ends with the response
		// (RFC 9112 section 9.3): say so, and never pool it for the next
		// request, whatever the response says.
		h.SetConnectionClose()
	}
	if x.hdr.expect {
		// The sidecar answered the expectation (expect.go) and sends the
		// body right behind the head: an upstream that refused the body
		// from its head would read it as a next request and answer it on a
		// pooled connection, to another client (Envoy and nginx drop it too).
		delHeader(h, ro("Expect"), x)
	}
	if x.hdr.chunked { // after Trailer is gone: iterating a declared Trailer list allocates
		dropTrailers(h, x)
	}
	if x.hdr.internal || x.hdr.chunked {
		delMatching(h, x, internalName)
	}
	if x.hdr.dropped {
		for _, name := range dropNames {
			delHeader(h, ro(name), x)
		}
		delMatching(h, x, droppedName)
	}
	// fasthttp writes "Content-Type: application/octet-stream" for a body
	// that came without one: a header nobody sent.
	h.SetNoDefaultContentType(true)
	if x.hdr.requestID != nil {
		delHeader(h, ro("X-Request-Id"), x) // scanHeaders let one through; the sidecar's goes in its place
	}
	s.identify(req, x)
}

// identify ends prepareRequest with what depends on the decision: the
// credential removed (unless forwarded), the connection's end for a body
// on a route that takes one, the Host and the identity lines. A request
// decided again on new tables before it is sent (sendable, recheck.go)
// goes through it again, and must leave it as if it had been decided
// first on those tables: what an earlier pass changed is taken back
// (x.undo), a credential removed is put back in its place should
// forward_token have been turned on meanwhile, the client's Host should
// the upstream_host it was replaced by be gone. Before, a token removed
// on the first decision stayed removed, and the old override stayed the
// Host (TestRedecidedRequestRebuiltFromNewTables). The connection's end
// needs no undoing: a route only of GET, DELETE or OPTIONS takes a body,
// and a body on one that does not is refused (contentRefused).
func (s *Server) identify(req *fasthttp.Request, x *exchange) {
	h := &req.Header
	if x.hdr.creds {
		cred := credAuthorization // scanHeaders refused both at once, and a trailer of either name is gone
		if x.hdr.keyHdr {
			cred = credAPIKey
		}
		switch fwd := x.forwardToken(); {
		case !fwd && x.undo.credAt == 0:
			x.undo.credAt = cutHeader(h, cred) + 1
		case fwd && x.undo.credAt != 0:
			if v, ok := rawValue(h.RawHeaders(), cred.name); ok {
				pasteHeader(h, cred.name, v, x.undo.credAt-1)
			}
			x.undo.credAt = 0
		}
	}
	if x.route.AllowBody && len(req.Body()) > 0 {
		// Content on a GET, DELETE or OPTIONS route that takes it
		// (contentRefused): an upstream that did not read it must not
		// read it as a next request, so the connection ends with the
		// response and never goes back to the pool. After dropTrailers,
		// which takes a Connection line the raw head lacks for a trailer.
		h.SetConnectionClose()
	}
	s.setHost(h, x)
	x.out.lines = x.appendLines(x.out.lines[:0])
}

// undo is what identify changed of a request's header that a decision
// on new tables may take back (identify). Its zero value is nothing
// changed; reset keeps host's buffer.
type undo struct {
	credAt  int    // the credential line's index among the header lines, plus 1, when identify removed it
	hostSet bool   // setHost replaced the client's Host (or set one where it had none)
	host    []byte // the client's Host then (empty: none)
}

// rawValue returns the value of the header line named name (in any case)
// in the raw header block raw, trimmed as fasthttp's parser trims it: the
// line as the client sent it, which deleting from the header map leaves
// alone.
func rawValue(raw, name []byte) ([]byte, bool) {
	for line := range bytes.Lines(raw) {
		if c := bytes.IndexByte(line, ':'); c == len(name) && bytes.EqualFold(line[:c], name) {
			return trimOWS(bytes.TrimRight(line[c+1:], "\r\n")), true
		}
	}
	return nil, false
}

// appendLines renders the header lines the sidecar adds to the request,
// which wire writes after the request line: X-Forwarded-For, X-Request-Id
// and, for an authenticated request, the identity headers. Every header of
// these names that came in is gone by now (prepareRequest removed them, or
// scanHeaders refused the request), so each line is the only one of its
// name, and an identity header without a value is absent: the key id goes
// only with an API key. The values need no check: ids and scope names
// match the policy's patterns (policy/validate.go), a request id
// validRequestID's, and the address is netip's rendering. The lines that
// depend only on the policy come rendered: the client's tenant and client
// lines and its scopes line (policy.Client, made by Compile), and the
// auth method's line (authMethodLines); the source's line is kept with
// the connection's exchange (forwardedFor).
func (x *exchange) appendLines(dst []byte) []byte {
	if x.peer.IsValid() {
		dst = append(dst, x.forwardedFor()...)
	}
	dst = appendLine(dst, "X-Request-Id: ", x.reqID)
	if x.client == nil {
		return dst
	}
	if x.client.IdentityLines == "" { // a Client made without Compile
		dst = appendLine(dst, "X-Portcullis-Tenant: ", ro(x.client.Tenant.ID))
		dst = appendLine(dst, "X-Portcullis-Client: ", ro(x.client.ID))
	} else {
		dst = append(dst, x.client.IdentityLines...)
	}
	if int(x.method) < len(authMethodLines) {
		dst = append(dst, authMethodLines[x.method]...)
	} else {
		dst = appendLine(dst, "X-Portcullis-Auth-Method: ", ro(x.method.String()))
	}
	if x.key != nil {
		dst = appendLine(dst, "X-Portcullis-Key-Id: ", ro(x.key.ID))
	}
	if x.scopes == x.client.Scopes && x.client.ScopesLine != "" {
		return append(dst, x.client.ScopesLine...)
	}
	dst = append(dst, "X-Portcullis-Scopes: "...)
	if x.scopes == x.client.Scopes {
		dst = append(dst, x.client.ScopeList...)
	} else {
		dst = x.appendScopes(dst)
	}
	return append(dst, "\r\n"...)
}

// authMethodLines holds the X-Portcullis-Auth-Method line of each auth
// method, rendered once.
var authMethodLines = func() (lines [audit.AuthMTLS + 1]string) {
	for m := range lines {
		lines[m] = "X-Portcullis-Auth-Method: " + audit.AuthMethod(m).String() + "\r\n"
	}
	return lines
}()

// appendLine appends the header line name (with its ": ") and value.
func appendLine(dst []byte, name string, value []byte) []byte {
	return append(append(append(dst, name...), value...), "\r\n"...)
}

// setHost gives the upstream the Host the policy names, or else the
// client's (which scanHeaders checked holds only host bytes), or else the
// upstream address.
//
// The client's Host is kept (x.undo) the first time it is replaced, and
// put back before a later pass, so that a request decided again after
// a push that removed or changed upstream_host gets the Host the new
// tables give it (identify).
func (s *Server) setHost(h *fasthttp.RequestHeader, x *exchange) {
	if x.undo.hostSet {
		h.SetHostBytes(x.undo.host)
	}
	host := x.snap.UpstreamHost
	switch {
	case host == "" && len(h.Host()) > 0:
		return
	case host == "":
		host = s.cfg.Upstream
	}
	if !x.undo.hostSet {
		x.undo.host, x.undo.hostSet = append(x.undo.host[:0], h.Host()...), true
	}
	h.SetHost(host)
}

// forwardedFor renders the X-Forwarded-For line of the source address,
// CRLF-terminated. The line is kept with the exchange: the requests of a
// connection mostly share a source, so it is rendered once per connection.
func (x *exchange) forwardedFor() []byte {
	if x.fwdFor != x.peer {
		x.fwdLine = append(x.peer.AppendTo(append(x.fwdLine[:0], "X-Forwarded-For: "...)), "\r\n"...)
		x.fwdFor = x.peer
	}
	return x.fwdLine
}

// forwardToken reports whether the request's credential goes on to the
// upstream: only a verified token whose issuer sets forward_token.
func (x *exchange) forwardToken() bool {
	if x.claims == nil || x.prep == nil {
		return false
	}
	r := x.prep.issuerRules[x.claims.Issuer.ID]
	return r != nil && r.forwardToken
}

// delMatching deletes every header whose name match reports, and returns
// how many passes over the header map that took: one per distinct name
// (each DelBytes removes every line of its name; a name per line was a
// pass per line, quadratic in a block of thousands of forged lines).
// scanHeaders bounds the distinct names of the header section
// (maxStrippedHeaders), trailersOK those of a trailer section.
func delMatching(h *fasthttp.RequestHeader, x *exchange, match func([]byte) bool) (passes int) {
	for {
		x.buf = x.buf[:0]
		lines := *linesOf(h) // no name a match reports is one fasthttp keeps apart
		for i := range lines {
			if match(lines[i].key) {
				x.buf = append(x.buf, lines[i].key...) // deleting moves the storage the key is in
				break
			}
		}
		if len(x.buf) == 0 {
			return passes
		}
		delHeader(h, x.buf, x) // every line of that name: one pass per distinct name, never per line
		passes++
	}
}

// dropTrailers removes the fields fasthttp merged into the header map from
// a chunked body's trailer section (it appends them after the header
// fields it checked nothing of). Request trailers are never forwarded, as
// nginx drops them too. A name the map holds more often than the raw
// header block has its lines past the head's deleted: the head's stay in
// place (RFC 9110 section 5.3), where deleting the name and adding the
// head's lines again moved them after every other line
// (TestTrailerLeavesHeaderLinesInPlace). The head's User-Agent is not
// among the map's lines (trailerNames), so all of that name go.
func dropTrailers(h *fasthttp.RequestHeader, x *exchange) {
	raw := h.RawHeaders()
	x.buf, _ = trailerNames(h, raw, x.buf[:0]) // headerlist.go: sorted, not name by name
	for names := x.buf; len(names) > 0; {
		i := bytes.IndexByte(names, '\n')
		name := names[:i]
		// fasthttp's parseTrailer appends the trailer's lines after the
		// head's, and every delete so far kept the order: the head's come
		// first. Its User-Agent is kept apart, none among the lines.
		keep := 0
		if string(name) != "user-agent" {
			keep = headLines(raw, name)
		}
		delLinesAfter(h, name, keep, x)
		names = names[i+1:]
	}
}

// headLines counts the lines of the raw header block raw named name.
func headLines(raw, name []byte) int {
	n := 0
	for line := range bytes.Lines(raw) {
		if c := bytes.IndexByte(line, ':'); c == len(name) && bytes.EqualFold(line[:c], name) {
			n++
		}
	}
	return n
}

// ro returns the bytes of s without copying, for fasthttp setters that copy
// what they are given; nothing may write to the result.
func ro(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// hdrRequestID is the response header that tells the client its request id.
var hdrRequestID = []byte("X-Request-Id")

// appendScopes renders the granted scopes when they differ from the
// client's (a token with fewer scopes), separated by spaces.
func (x *exchange) appendScopes(dst []byte) []byte {
	sep := false
	for _, sc := range x.snap.Scopes {
		if x.scopes&sc.Bit != 0 {
			if sep {
				dst = append(dst, ' ')
			}
			dst, sep = append(dst, sc.Name...), true
		}
	}
	return dst
}

// hopByHop are the RFC 9110 section 7.6.1 connection-specific fields; they
// describe one hop and are never forwarded.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// dropNames are request headers a client could use to make the upstream
// see another method, path or client address than the sidecar checked
// (RFC 7239 Forwarded and its predecessors, the client-address headers
// CDNs and load balancers set, rewrite and method-override headers, and
// those nginx's auth_request and Envoy set to name the original target,
// which a service behind them may route or authorise by, and
// X-Script-Name, which the common Flask and WSGI reverse-proxy fix cuts
// from the front of the path the service routes): they
// are removed, and X-Forwarded-For is replaced by the one the sidecar
// computed. Any X-Forwarded-* header goes the same way.
var dropNames = []string{
	"Forwarded", "X-Real-IP", "X-Original-URL", "X-Rewrite-URL",
	"X-Original-URI", "X-Original-Method", "X-Original-Host", "X-Host",
	"X-Envoy-Original-Path", "X-Script-Name",
	"X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method",
	"True-Client-IP", "X-Client-IP", "Client-IP", "CF-Connecting-IP",
	"Fastly-Client-IP", "X-Cluster-Client-IP",
	// Read for the client's address by request-ip (Node) and
	// django-ipware (X-Forwarded, Forwarded-For), DigitalOcean's App
	// Platform and request-ip (DO-Connecting-IP), and Fly.io and gin's
	// TrustedPlatform (Fly-Client-IP).
	"X-Forwarded", "Forwarded-For", "DO-Connecting-IP", "Fly-Client-IP",
	// Read for the client's address by Java's common getClientIp
	// (Proxy-Client-IP, WL-Proxy-Client-IP: WebLogic's plug-in), by
	// services behind Imperva (Incap-Client-IP) and Sucuri
	// (X-Sucuri-ClientIP), by mail and Microsoft stacks
	// (X-Originating-IP) and Google's front end (X-ProxyUser-Ip); and for
	// the scheme, whether the request came over TLS, by Tornado and
	// nginx-style set-ups (X-Scheme, X-Url-Scheme) and Microsoft's
	// (Front-End-Https), as X-Forwarded-Proto is (review53's list).
	"Proxy-Client-IP", "WL-Proxy-Client-IP", "Incap-Client-IP", "X-Sucuri-ClientIP",
	"X-Originating-IP", "X-ProxyUser-Ip", "X-Scheme", "X-Url-Scheme", "Front-End-Https",
	// The list and host a request came with, as ingress-nginx and Istio
	// set them before rewriting X-Forwarded-For; services read the first
	// for the client's address (review64).
	"X-Original-Forwarded-For", "X-Original-Forwarded-Host",
}

// isHopByHop reports whether name is one of hopByHop.
func isHopByHop(name []byte) bool {
	for _, hop := range hopByHop {
		if len(hop) == len(name) && bytes.EqualFold(name, []byte(hop)) {
			return true
		}
	}
	return false
}

// responseLimit is the largest response body x may forward: its class's
// max_response_body (0 too: no body), or MaxBodyBytes.
func (s *Server) responseLimit(x *exchange) int64 {
	if x.route != nil && x.route.Class.ResponseCapped {
		return x.route.Class.MaxResponse
	}
	return int64(s.cfg.MaxBodyBytes)
}

// delListed deletes the headers the request's Connection lines list
// (RFC 9110 section 7.6.1): every line's, each a comma list. Peek gave
// only the first line, so "Connection: keep-alive" and then
// "Connection: X-Hop" forwarded X-Hop. The names are read from the raw
// header block, which deleting from the header map leaves alone;
// connectionListOK bounded them to maxConnectionNames.
func delListed(h *fasthttp.RequestHeader, x *exchange) {
	for line := range bytes.Lines(h.RawHeaders()) {
		c := bytes.IndexByte(line, ':')
		if c < 0 || !foldEqual(line[:c], "connection") {
			continue
		}
		for name := range bytes.SplitSeq(line[c+1:], []byte(",")) {
			if name = trimOWS(bytes.TrimRight(name, "\r\n")); len(name) > 0 {
				delHeader(h, name, x)
			}
		}
	}
}

// scrubResponse removes the upstream's hop-by-hop headers and those its
// Connection lines list, and its X-Request-Id (forward sets the
// sidecar's), in any case: the response head keeps the upstream's
// spelling of names (readHead), and fasthttp's Peek, Del and Set match
// such a name's exact case, so a "connection: x-debug" from a Node or
// HTTP/2 upstream reached the client with the header it named, and an
// "X-Request-ID" came before the sidecar's. readHead tells whether a
// response holds any (most hold none), in the one pass it makes.
func scrubResponse(h *fasthttp.ResponseHeader, x *exchange) {
	x.buf = x.buf[:0] // the names the Connection lines list, each ended by ','
	for k, v := range h.All() {
		if bytes.EqualFold(k, []byte("Connection")) {
			x.buf = append(append(x.buf, v...), ',')
		}
	}
	// x.uri, the target (sent by now), gathers the names to delete as the
	// header spells them, each ended by '\n': deleting moves the storage
	// a name aliases, so all are found first, in one pass.
	x.uri = x.uri[:0]
	for k := range h.All() {
		if scrubbed(k) || inList(x.buf, k) {
			x.uri = append(append(x.uri, k...), '\n')
		}
	}
	for names := x.uri; len(names) > 0; {
		i := bytes.IndexByte(names, '\n')
		h.DelBytes(names[:i]) // every line of that spelling
		names = names[i+1:]
	}
}

// scrubbed reports whether a response header named name is removed
// whatever the Connection lines list: a hop-by-hop one, or X-Request-Id.
// It runs on every header of every response, so names are told apart by
// length and then by their nameKey words, as scanHeaders does; those
// longer than 16 bytes go to isHopByHop. The words' fold can take a name
// with other bytes than letters, digits and '-' for one of these, never
// the reverse: that costs a scrub pass, which removes only real matches
// (TestScrubbedSame).
func scrubbed(name []byte) bool {
	switch k := nameKey(name); len(name) {
	case len("TE"):
		return k == keyTE
	case len("Trailer"): // and Upgrade
		return k == keyTrailer || k == keyUpgrade
	case len("Connection"): // and Keep-Alive
		return k == keyConnection || k == keyKeepAlive
	case len("X-Request-Id"):
		return k == keyRequestID
	case len("Proxy-Connection"):
		return k == keyProxyConnection
	case len("Transfer-Encoding"), len("Proxy-Authenticate"), len("Proxy-Authorization"):
		return isHopByHop(name)
	}
	return false
}

// inList reports whether list, names separated by ',', holds name in
// any case.
func inList(list, name []byte) bool {
	for len(list) > 0 {
		i := bytes.IndexByte(list, ',')
		if i < 0 {
			i = len(list)
		}
		if bytes.EqualFold(trimOWS(list[:i]), name) {
			return true
		}
		list = list[min(i+1, len(list)):]
	}
	return false
}
