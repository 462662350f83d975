package dataplane

import (
	"bytes"
	"errors"
	"unsafe"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// hopByHop are the RFC 9110 section 7.6.1 connection-specific fields; they
// describe one hop and are never forwarded.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// identity are the headers the sidecar sets for the upstream; any incoming
// X-Portcullis-* header is removed first, so callers cannot forge them.
const internalPrefix = "x-portcullis-"

// requestHeaders are the request headers the pipeline reads, taken from
// the raw header block in the same pass that checks it. The slices alias
// fasthttp's buffer and are valid until the handler returns.
type requestHeaders struct {
	requestID []byte
	apiKey    []byte
	authz     []byte
	internal  bool // an X-Portcullis-* header came in and must be stripped
	hop       bool // a hop-by-hop header came in and must be stripped
	creds     bool // X-API-Key or Authorization came in
	keyHdr    bool // the credential came in X-API-Key (never with Authorization)
	dropped   bool // a header of dropNames or X-Forwarded-* came in
	chunked   bool // the body is chunked: it may end in trailers
	xff       bool // X-Forwarded-For came in
	fwd       bool // Forwarded came in
}

// dropNames are request headers a client could use to make the upstream
// see another method, path or client address than the sidecar checked
// (RFC 7239 Forwarded and its predecessors, rewrite and method-override
// headers): they are removed, and X-Forwarded-For is replaced by the one
// the sidecar computed. Any X-Forwarded-* header goes the same way.
var dropNames = []string{
	"Forwarded", "X-Real-IP", "X-Original-URL", "X-Rewrite-URL",
	"X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method",
}

const forwardedPrefix = "x-forwarded-"

// scanHeaders checks the raw request headers for what fasthttp accepts but a
// proxy must not: Content-Length together with Transfer-Encoding or repeated
// (request smuggling, RFC 9112 section 6.3), a Transfer-Encoding other than
// exactly "chunked" (fasthttp reads "identity" as no body, so the body would
// be parsed as a second request), header names with '_' (which some servers
// fold into '-', smuggling a header past us), obsolete line folding, two
// credentials (X-API-Key and Authorization: which one would be checked, and
// which one would the upstream read?), a Host that is not a plain host[:port]
// (fasthttp turns "user:pass@host" into an Authorization header towards the
// upstream), and a repeated credential, Host or request id header (which one
// would count?). It fills h with the headers the pipeline needs. It is one
// pass over the block: names are compared only when their length can match.
func scanHeaders(raw []byte, h *requestHeaders) bool {
	var cl, te, authz, apiKey, reqID, host int
	ok := true
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '\n':
			i++
			continue
		case '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i += 2
				continue
			}
			return false
		case ' ', '\t':
			return false // obs-fold
		}
		start := i
		for i < len(raw) && tokenByte[raw[i]] {
			i++
		}
		if i == len(raw) || i == start || raw[i] != ':' {
			return false // not a token, '_', or no colon
		}
		name := raw[start:i]
		i++
		end := bytes.IndexByte(raw[i:], '\n')
		if end < 0 {
			end = len(raw) - i
		}
		value := raw[i : i+end] // trimmed only where it is kept
		i += end + 1
		if len(name) > len(forwardedPrefix) && name[1] == '-' && name[0]|0x20 == 'x' {
			if internalName(name) {
				h.internal = true
				continue
			}
			if foldEqual(name, forwardedPrefix) {
				h.dropped = true
				h.xff = h.xff || len(name) == len("X-Forwarded-For") && foldEqual(name, "x-forwarded-for")
				continue
			}
		}
		switch len(name) { // compare only names of a length that can match
		case len("Host"):
			if foldEqual(name, "host") {
				host++
				ok = ok && validHost(trimOWS(value))
			}
		case len("Content-Length"): // and X-Original-URL
			if foldEqual(name, "content-length") {
				cl++
			} else {
				h.dropped = h.dropped || foldEqual(name, "x-original-url")
			}
		case len("Transfer-Encoding"): // and X-Method-Override
			if foldEqual(name, "transfer-encoding") {
				te++
				h.hop = true
				h.chunked = len(trimOWS(value)) == len("chunked") && foldEqual(trimOWS(value), "chunked")
				ok = ok && h.chunked
			} else {
				h.dropped = h.dropped || foldEqual(name, "x-method-override")
			}
		case len("Authorization"): // and X-Rewrite-URL, X-HTTP-Method
			if foldEqual(name, "authorization") {
				authz++
				h.authz, h.creds = trimOWS(value), true
			} else {
				h.dropped = h.dropped || foldEqual(name, "x-rewrite-url") || foldEqual(name, "x-http-method")
			}
		case len("X-API-Key"): // and X-Real-IP, Forwarded
			switch {
			case foldEqual(name, "x-api-key"):
				apiKey++
				h.apiKey, h.creds, h.keyHdr = trimOWS(value), true, true
			case foldEqual(name, "forwarded"):
				h.dropped, h.fwd = true, true
			default:
				h.dropped = h.dropped || foldEqual(name, "x-real-ip")
			}
		case len("X-HTTP-Method-Override"):
			h.dropped = h.dropped || foldEqual(name, "x-http-method-override")
		case len("X-Request-ID"):
			if foldEqual(name, "x-request-id") {
				reqID++
				h.requestID = trimOWS(value)
			}
		case len("Connection"): // and Keep-Alive
			h.hop = h.hop || foldEqual(name, "connection") || foldEqual(name, "keep-alive")
		case len("TE"):
			h.hop = h.hop || foldEqual(name, "te")
		case len("Trailer"): // and Upgrade
			h.hop = h.hop || foldEqual(name, "trailer") || foldEqual(name, "upgrade")
		case len("Proxy-Authenticate"):
			h.hop = h.hop || foldEqual(name, "proxy-authenticate")
		case len("Proxy-Authorization"):
			h.hop = h.hop || foldEqual(name, "proxy-authorization")
		case len("Proxy-Connection"):
			h.hop = h.hop || foldEqual(name, "proxy-connection")
		}
	}
	return ok && cl <= 1 && te <= 1 && (cl == 0 || te == 0) && authz <= 1 && apiKey <= 1 &&
		authz+apiKey <= 1 && reqID <= 1 && host <= 1
}

// internalName reports whether name starts with X-Portcullis- in any case,
// with '_' for either '-' (a spelling some servers fold into '-').
func internalName(name []byte) bool {
	if len(name) <= len(internalPrefix) {
		return false
	}
	for i := range len(internalPrefix) {
		c := name[i]
		if c == '_' {
			c = '-'
		}
		if c|0x20 != internalPrefix[i] {
			return false
		}
	}
	return true
}

// hostByte marks the bytes a Host value may hold: letters, digits, '.',
// '-' and ':' (a port). Anything else (userinfo's '@', brackets, '%',
// '/') is refused rather than forwarded.
var hostByte = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:") {
		t[c] = true
	}
	return t
}()

// validHost reports whether a Host value holds only hostByte bytes.
func validHost(v []byte) bool {
	for _, c := range v {
		if !hostByte[c] {
			return false
		}
	}
	return true
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

// foldEqual reports whether the header name equals want, a lower-case
// ASCII string of the same length, ignoring case. Setting bit 0x20 folds
// case exactly on token bytes (RFC 9110 section 5.6.2), which is all a
// name that passed scanHeaders holds: no other token byte folds onto a
// letter, digit or '-'.
func foldEqual(name []byte, want string) bool {
	for i := range len(want) {
		if name[i]|0x20 != want[i] {
			return false
		}
	}
	return true
}

// tokenByte marks the bytes of an RFC 9110 token (a field name) except
// '_', which scanHeaders refuses.
var tokenByte = func() (t [256]bool) {
	for _, c := range []byte("!#$%&'*+-.^`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		t[c] = true
	}
	return t
}()

// trimOWS drops the optional whitespace (and a line's CR) around a value.
func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[len(v)-1] == '\r' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return v
}

// forward sends the admitted request to the upstream with the normalised
// target, without hop-by-hop, credential and forged identity headers, and
// with the identity headers the upstream may trust.
func (s *Server) forward(ctx *fasthttp.RequestCtx, x *exchange) {
	req := &ctx.Request
	s.prepareRequest(req, x)
	if ctx.IsTLS() {
		// A request that came over TLS parses as https; the upstream is
		// plain HTTP on the pod, so the forwarded request is too.
		req.URI().SetScheme("http")
	}
	if x.body == nil {
		x.body = new(responseBody)
	}
	streamed, err := s.upstream.roundTrip(req, &ctx.Response, x.body, s.responseLimit(x))
	if err != nil {
		d := audit.UpstreamError
		switch {
		case errors.Is(err, fasthttp.ErrTimeout):
			d = audit.UpstreamTimeout
		case err == errResponseTooLarge:
			d = audit.ResponseTooLarge
		}
		s.logUpstreamError(err, x)
		s.deny(ctx, x, d)
		return
	}
	x.rec.Decision = audit.Allowed
	scrubResponse(&ctx.Response.Header, x)
	ctx.Response.Header.SetCanonical(hdrRequestID, x.reqID)
	switch {
	case streamed && x.body.toClose(req):
		s.streamToClose(ctx, x) // stream10.go: HTTP/1.0, unknown length
	case streamed:
		s.stream(ctx, x)
	}
}

// responseLimit is the largest response body x may forward: its class's
// max_response_body, or MaxBodyBytes.
func (s *Server) responseLimit(x *exchange) int64 {
	if x.route != nil && x.route.Class.MaxResponse > 0 {
		return x.route.Class.MaxResponse
	}
	return int64(s.cfg.MaxBodyBytes)
}

// delListed deletes the headers named in a Connection header's value list
// (RFC 9110 section 7.6.1). The list is copied first: deleting moves
// fasthttp's header storage, which it aliases.
func delListed(h interface{ DelBytes([]byte) }, list []byte, x *exchange) {
	x.buf = append(x.buf[:0], list...)
	for names := x.buf; len(names) > 0; {
		i := bytes.IndexByte(names, ',')
		if i < 0 {
			i = len(names)
		}
		if name := bytes.TrimSpace(names[:i]); len(name) > 0 {
			h.DelBytes(name)
		}
		names = names[min(i+1, len(names)):]
	}
}

// scrubResponse removes the upstream's hop-by-hop headers and those its
// Connection header lists. Most responses carry none, and then one pass
// over the headers is all it costs.
func scrubResponse(h *fasthttp.ResponseHeader, x *exchange) {
	hop := false
	for k := range h.All() {
		if hop = isHopByHop(k); hop {
			break
		}
	}
	if !hop {
		return
	}
	delListed(h, h.Peek("Connection"), x)
	for _, name := range hopByHop {
		h.Del(name)
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
	if x.hdr.hop {
		delListed(h, h.Peek("Connection"), x)
		for _, name := range hopByHop {
			h.Del(name)
		}
	}
	if x.hdr.chunked { // after Trailer is gone: iterating a declared Trailer list allocates
		dropTrailers(h, x)
	}
	if x.hdr.internal || x.hdr.chunked {
		delMatching(h, x, internalName)
	}
	if x.hdr.dropped {
		for _, name := range dropNames {
			h.Del(name)
		}
		delMatching(h, x, forwardedName)
	}
	if x.hdr.creds && !x.forwardToken() {
		// scanHeaders refused both at once, and a trailer of either name
		// is gone: one Del is enough.
		if x.hdr.keyHdr {
			h.Del("X-API-Key")
		} else {
			h.Del("Authorization")
		}
	}
	s.setHost(h, x)
	if x.peer.IsValid() {
		h.SetCanonical(hdrForwardedFor, x.forwardedFor())
	}
	h.SetCanonical(hdrRequestID, x.reqID)
	if x.client != nil {
		setIdentity(h, x)
	}
}

// setIdentity sets the identity headers of an authenticated request. The
// key id is set only for an API key: every X-Portcullis-* header that came
// in is gone by now, so an identity header without a value is absent.
func setIdentity(h *fasthttp.RequestHeader, x *exchange) {
	h.SetCanonical(hdrTenant, ro(x.client.Tenant.ID))
	h.SetCanonical(hdrClient, ro(x.client.ID))
	h.SetCanonical(hdrAuthMethod, ro(x.method.String()))
	if x.key != nil {
		h.SetCanonical(hdrKeyID, ro(x.key.ID))
	}
	if x.scopes == x.client.Scopes {
		h.SetCanonical(hdrScopes, ro(x.client.ScopeList))
		return
	}
	h.SetCanonical(hdrScopes, x.appendScopes(x.buf[:0]))
}

// setHost gives the upstream the Host the policy names, or else the
// client's (which scanHeaders checked holds only host bytes), or else the
// upstream address.
func (s *Server) setHost(h *fasthttp.RequestHeader, x *exchange) {
	switch {
	case x.snap.UpstreamHost != "":
		h.SetHost(x.snap.UpstreamHost)
	case len(h.Host()) == 0:
		h.SetHost(s.cfg.Upstream)
	}
}

// forwardedFor renders the source address for X-Forwarded-For. The text is
// kept with the exchange: the requests of a connection mostly share a
// source, so it is rendered once per connection.
func (x *exchange) forwardedFor() []byte {
	if x.fwdFor != x.peer {
		x.fwdFor, x.fwdText = x.peer, x.peer.AppendTo(x.fwdText[:0])
	}
	return x.fwdText
}

// forwardToken reports whether the request's credential goes on to the
// upstream: only a verified token whose issuer sets forward_token.
func (x *exchange) forwardToken() bool {
	if x.claims == nil || x.d == nil {
		return false
	}
	r := x.d.issuerRules[x.claims.Issuer.ID]
	return r != nil && r.forwardToken
}

// forwardedName reports whether name is an X-Forwarded-* header.
func forwardedName(name []byte) bool {
	return len(name) > len(forwardedPrefix) && foldEqual(name, forwardedPrefix)
}

// delMatching deletes every header whose name match reports. The names
// are copied to x.buf first: deleting moves fasthttp's header storage,
// which the iteration aliases.
func delMatching(h *fasthttp.RequestHeader, x *exchange, match func([]byte) bool) {
	x.buf = x.buf[:0]
	for k := range h.All() {
		if match(k) {
			x.buf = append(append(x.buf, k...), '\n')
		}
	}
	for names := x.buf; len(names) > 0; {
		i := bytes.IndexByte(names, '\n')
		h.DelBytes(names[:i])
		names = names[i+1:]
	}
}

// dropTrailers removes the fields fasthttp merged into the header map from
// a chunked body's trailer section (it appends them after the header
// fields it checked nothing of). Request trailers are never forwarded, as
// nginx drops them too: a name the map holds more often than the raw
// header block is deleted and its header lines, if any, are put back.
func dropTrailers(h *fasthttp.RequestHeader, x *exchange) {
	raw := h.RawHeaders()
	x.buf, _ = trailerNames(h, raw, x.buf[:0]) // headerlist.go: sorted, not name by name
	for names := x.buf; len(names) > 0; {
		i := bytes.IndexByte(names, '\n')
		name := names[:i]
		h.DelBytes(name)
		for line := range bytes.Lines(raw) {
			if c := bytes.IndexByte(line, ':'); c == len(name) && bytes.EqualFold(line[:c], name) {
				h.AddBytesKV(name, trimOWS(bytes.TrimRight(line[c+1:], "\n")))
			}
		}
		names = names[i+1:]
	}
}

// ro returns the bytes of s without copying, for fasthttp setters that copy
// what they are given; nothing may write to the result.
func ro(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// The identity headers, in fasthttp's canonical form so that setting them
// skips normalisation.
var (
	hdrRequestID    = []byte("X-Request-Id")
	hdrForwardedFor = []byte("X-Forwarded-For")
	hdrTenant       = []byte("X-Portcullis-Tenant")
	hdrClient       = []byte("X-Portcullis-Client")
	hdrAuthMethod   = []byte("X-Portcullis-Auth-Method")
	hdrKeyID        = []byte("X-Portcullis-Key-Id")
	hdrScopes       = []byte("X-Portcullis-Scopes")
)

// appendScopes renders the granted scopes when they differ from the
// client's (a token with fewer scopes).
func (x *exchange) appendScopes(dst []byte) []byte {
	for _, sc := range x.snap.Scopes {
		if x.scopes&sc.Bit != 0 {
			if len(dst) > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, sc.Name...)
		}
	}
	x.buf = dst
	return dst
}
