package dataplane

import (
	"bytes"
	"errors"

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
}

// scanHeaders checks the raw request headers for what fasthttp accepts but a
// proxy must not: Content-Length together with Transfer-Encoding or repeated
// (request smuggling, RFC 9112 section 6.3), header names with '_' (which
// some servers fold into '-', smuggling a header past us), obsolete line
// folding, and a repeated credential or request id header (which one would
// count?). It fills h with the headers the pipeline needs.
func scanHeaders(raw []byte, h *requestHeaders) bool {
	var cl, te, authz, apiKey, reqID int
	for len(raw) > 0 {
		end := bytes.IndexByte(raw, '\n')
		if end < 0 {
			end = len(raw)
		}
		line := bytes.TrimRight(raw[:end], "\r")
		raw = raw[min(end+1, len(raw)):]
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return false
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.IndexByte(line[:colon], '_') >= 0 {
			return false
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		if len(name) > len(internalPrefix) && bytes.EqualFold(name[:len(internalPrefix)], []byte(internalPrefix)) {
			h.internal = true
		}
		switch len(name) { // compare only names of a length that can match
		case len("Content-Length"):
			if bytes.EqualFold(name, []byte("Content-Length")) {
				cl++
			}
		case len("Transfer-Encoding"):
			if bytes.EqualFold(name, []byte("Transfer-Encoding")) {
				te++
			}
		case len("Authorization"):
			if bytes.EqualFold(name, []byte("Authorization")) {
				authz++
				h.authz = value
			}
		case len("X-API-Key"):
			if bytes.EqualFold(name, []byte("X-API-Key")) {
				apiKey++
				h.apiKey = value
			}
		case len("X-Request-ID"):
			if bytes.EqualFold(name, []byte("X-Request-ID")) {
				reqID++
				h.requestID = value
			}
		}
	}
	return cl <= 1 && te <= 1 && (cl == 0 || te == 0) && authz <= 1 && apiKey <= 1 && reqID <= 1
}

// forward sends the admitted request to the upstream with the normalised
// target, without hop-by-hop, credential and forged identity headers, and
// with the identity headers the upstream may trust.
func (s *Server) forward(ctx *fasthttp.RequestCtx, x *exchange) {
	req := &ctx.Request
	s.prepareRequest(req, x)
	err := s.upstream.Do(req, &ctx.Response)
	if err != nil {
		d := audit.UpstreamError
		if errors.Is(err, fasthttp.ErrTimeout) {
			d = audit.UpstreamTimeout
		}
		s.log.Warn().Err(err).Bytes("request_id", x.reqID).Msg("upstream request failed")
		s.deny(ctx, x, d)
		return
	}
	x.rec.Decision = audit.Allowed
	for _, h := range hopByHop {
		ctx.Response.Header.Del(h)
	}
	ctx.Response.Header.SetBytesV("X-Request-ID", x.reqID)
}

func (s *Server) prepareRequest(req *fasthttp.Request, x *exchange) {
	h := &req.Header
	req.SetRequestURIBytes(x.uri)
	if c := h.Peek("Connection"); len(c) > 0 {
		x.buf = append(x.buf[:0], c...)
		for _, name := range bytes.Split(x.buf, []byte(",")) {
			h.DelBytes(bytes.TrimSpace(name))
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	stripInternal(h, x)
	h.Del("X-API-Key")
	if x.method == audit.AuthAPIKey {
		h.Del("Authorization")
	}
	if len(h.Host()) == 0 {
		h.SetHost(s.cfg.Upstream)
	}
	h.SetBytesV("X-Request-ID", x.reqID)
	if x.client == nil {
		return
	}
	h.Set("X-Portcullis-Tenant", x.client.Tenant.ID)
	h.Set("X-Portcullis-Client", x.client.ID)
	h.Set("X-Portcullis-Auth-Method", x.method.String())
	if x.key != nil {
		h.Set("X-Portcullis-Key-Id", x.key.ID)
	}
	if x.scopes == x.client.Scopes {
		h.Set("X-Portcullis-Scopes", x.client.ScopeList)
		return
	}
	h.SetBytesV("X-Portcullis-Scopes", x.appendScopes(x.buf[:0]))
}

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
