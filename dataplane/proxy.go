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
}

// scanHeaders checks the raw request headers for what fasthttp accepts but a
// proxy must not: Content-Length together with Transfer-Encoding or repeated
// (request smuggling, RFC 9112 section 6.3), header names with '_' (which
// some servers fold into '-', smuggling a header past us), obsolete line
// folding, and a repeated credential or request id header (which one would
// count?). It fills h with the headers the pipeline needs. It is one pass
// over the block: names are compared only when their length can match.
func scanHeaders(raw []byte, h *requestHeaders) bool {
	var cl, te, authz, apiKey, reqID int
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
		if len(name) > len(internalPrefix) && foldEqual(name[:len(internalPrefix)], internalPrefix) {
			h.internal = true
			continue
		}
		switch len(name) { // compare only names of a length that can match
		case len("Content-Length"):
			if foldEqual(name, "content-length") {
				cl++
			}
		case len("Transfer-Encoding"):
			if foldEqual(name, "transfer-encoding") {
				te++
				h.hop = true
			}
		case len("Authorization"):
			if foldEqual(name, "authorization") {
				authz++
				h.authz, h.creds = trimOWS(value), true
			}
		case len("X-API-Key"):
			if foldEqual(name, "x-api-key") {
				apiKey++
				h.apiKey, h.creds = trimOWS(value), true
			}
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
	return cl <= 1 && te <= 1 && (cl == 0 || te == 0) && authz <= 1 && apiKey <= 1 && reqID <= 1
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
	if streamed {
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
	stripInternal(h, x)
	if x.hdr.creds {
		h.Del("X-API-Key")
		if x.method == audit.AuthAPIKey {
			h.Del("Authorization")
		}
	}
	if len(h.Host()) == 0 {
		h.SetHost(s.cfg.Upstream)
	}
	h.SetCanonical(hdrRequestID, x.reqID)
	if x.client == nil {
		return
	}
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

// ro returns the bytes of s without copying, for fasthttp setters that copy
// what they are given; nothing may write to the result.
func ro(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// The identity headers, in fasthttp's canonical form so that setting them
// skips normalisation.
var (
	hdrRequestID  = []byte("X-Request-Id")
	hdrTenant     = []byte("X-Portcullis-Tenant")
	hdrClient     = []byte("X-Portcullis-Client")
	hdrAuthMethod = []byte("X-Portcullis-Auth-Method")
	hdrKeyID      = []byte("X-Portcullis-Key-Id")
	hdrScopes     = []byte("X-Portcullis-Scopes")
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

// stripInternal removes every incoming X-Portcullis-* header. The common
// case (none present, as scanHeaders found) costs nothing.
func stripInternal(h *fasthttp.RequestHeader, x *exchange) {
	if !x.hdr.internal {
		return
	}
	x.buf = x.buf[:0]
	var names [][]byte
	for k := range h.All() {
		if len(k) >= len(internalPrefix) && bytes.EqualFold(k[:len(internalPrefix)], []byte(internalPrefix)) {
			names = append(names, append([]byte(nil), k...))
		}
	}
	for _, n := range names {
		h.DelBytes(n)
	}
}
