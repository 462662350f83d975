package dataplane

import "bytes"

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

	// approval is X-Portcullis-Approval (approval.go), read from the
	// header section only: a trailer's never counts.
	approval []byte
}

// scanHeaders checks the raw request headers for what fasthttp accepts but a
// proxy must not: Content-Length together with Transfer-Encoding or repeated
// (request smuggling, RFC 9112 section 6.3), a Transfer-Encoding other than
// exactly "chunked" (fasthttp reads "identity" as no body, so the body would
// be parsed as a second request), header names with '_' (which some servers
// fold into '-', smuggling a header past us), obsolete line folding, two
// credentials (X-API-Key and Authorization: which one would be checked, and
// which one would the upstream read?), a Host that is not a plain host[:port]
// (fasthttp turns "user:pass@host" into an Authorization header towards the
// upstream), and a repeated credential, Host, request id or approval header
// (which one would count?). It fills h with the headers the pipeline needs. It is one
// pass over the block: names are compared only when their length can match.
func scanHeaders(raw []byte, h *requestHeaders) bool {
	var cl, te, authz, apiKey, reqID, host, approvals int
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
				if len(name) == len(hdrApproval) && foldEqual(name, "x-portcullis-approval") {
					approvals++
					h.approval = trimOWS(value)
				}
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
		authz+apiKey <= 1 && reqID <= 1 && host <= 1 && approvals <= 1
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

// internalPrefix begins the names of the identity headers the sidecar sets
// for the upstream; any incoming X-Portcullis-* header is removed first,
// so callers cannot forge them.
const internalPrefix = "x-portcullis-"

// forwardedPrefix begins the X-Forwarded-* headers: every one that comes
// in is removed, and X-Forwarded-For is set afresh.
const forwardedPrefix = "x-forwarded-"

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

// forwardedName reports whether name is an X-Forwarded-* header.
func forwardedName(name []byte) bool {
	return len(name) > len(forwardedPrefix) && foldEqual(name, forwardedPrefix)
}
