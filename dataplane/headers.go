package dataplane

import (
	"bytes"
	"encoding/binary"

	"github.com/valyala/fasthttp"
)

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
	dropped   bool // a header of dropNames, X-Forwarded-* or proxyName came in
	chunked   bool // the body is chunked: it may end in trailers
	xff       bool // X-Forwarded-For came in
	fwd       bool // Forwarded came in
	expect    bool // Expect came in: the sidecar answers it (expect.go), the upstream never sees it
	coded     bool // a Content-Encoding other than identity came in: the body is not what the override scan reads
	cookie    bool // a Cookie line came in: read for tenant cookies (tenantCookies) only where the route binds {tenant}
	close     bool // a Connection line lists "close", in any spelling: the connection ends with this answer (Server.finish)

	// refused is what the request was refused for before the handler
	// (refusal.go, begin: conn.handOver): refusalHeadEnd or refusalHead,
	// its head, whose lines step 1 does not read; refusalTrailer, its
	// trailer section, which ended badly or holds names trailersOK
	// refuses (listsOK), refused after the head's names; else none.
	refused refusal

	// badCookie is 1 + the index in the policy's refuse_cookies of a
	// cookie the request carries (refusecookie.go), for the 400's
	// message; 0: none.
	badCookie uint8

	// tenant is the value of a tenant header (X-Tenant, X-Tenant-Id, ...:
	// tenantheader.go), untrimmed, which must name the caller's tenant;
	// tenantHdr says one came in.
	tenant    []byte
	tenantHdr bool
	// named is the value of a header the policy's tenant_headers names
	// (policyHeaders), untrimmed; namedHdr says one came in. Kept apart
	// from tenant: a request decided again on new tables has it looked
	// for again, by the new tables' names.
	named    []byte
	namedHdr bool

	// approval is X-Portcullis-Approval (approval.go), read from the
	// header section only: a trailer's never counts.
	approval []byte
}

// scanHeaders checks the raw request headers for what fasthttp accepts but a
// proxy must not: Content-Length together with Transfer-Encoding or repeated
// (request smuggling, RFC 9112 section 6.3), a Transfer-Encoding other than
// exactly "chunked" (fasthttp reads "identity" as no body, so the body would
// be parsed as a second request), header names with '_' or another token
// byte that is not a letter, digit or '-' (which some servers fold into
// '-' or '_', smuggling a header past us), obsolete line folding, two
// credentials (X-API-Key and Authorization: which one would be checked, and
// which one would the upstream read?), a Host that is not a plain host[:port]
// (fasthttp turns "user:pass@host" into an Authorization header towards the
// upstream), and a repeated credential, Host, request id or approval header
// (which one would count?). It fills h with the headers the pipeline needs.
// It is one pass over the block. Host, User-Agent and X-API-Key, on nearly
// every request, are told by a word each (commonNameLen) and recorded
// here; any other name is read as two words (nameKey) and compared with
// the names of its length a word at a time, except a name that by its
// first byte and length is none of them (noteSkip).
func scanHeaders(raw []byte, h *requestHeaders) bool {
	var n headerCounts
	ok, k := true, 0
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '\n':
			i++
			continue
		case '\r':
			if i+1 >= len(raw) || raw[i+1] != '\n' {
				return false
			}
			i += 2
			continue
		}
		// The line runs to its LF, or to the end of the block; i moves past
		// both (an offset, not a reslice of raw: no capacity to carry).
		line := raw[i:]
		if end := bytes.IndexByte(line, '\n'); end >= 0 {
			line = line[:end]
		}
		i += len(line) + 1
		switch k = commonNameLen(line); k {
		case 0: // not Host, User-Agent or X-API-Key: the token bytes one by one
			if k = tokenLen(line); k == 0 || k == len(line) || line[k] != ':' {
				return false // not a token (a line starting with ' ' or '\t', obs-fold, has none), '_', or no colon
			}
		case len("Host"): // as note records these two, without its compares
			n.once(onceHost)
			ok = validHost(trimOWS(line[k+1:])) && ok
			continue
		case len("X-API-Key"):
			n.once(onceAPIKey)
			h.apiKey, h.creds, h.keyHdr = trimOWS(line[k+1:]), true, true
			continue
		case len("User-Agent"):
			continue // nothing to note (noteSkip skips it)
		}
		if k < 64 && noteSkip[line[0]]>>k&1 != 0 {
			continue // a name note does nothing with (User-Agent, Accept, ...): no call
		}
		ok = h.note(line[:k], line[k+1:], &n) && ok // the value is trimmed only where it is kept
	}
	return ok && n.valid()
}

// headerCounts records the headers a request may carry at most once, a
// bit each in seen, and in twice once one came again, and counts the
// X-Portcullis-*, X-Forwarded-* and proxy (proxyName) lines the sidecar
// removes.
type headerCounts struct {
	seen, twice uint16
	stripped    int
}

// The bits of headerCounts' seen and twice.
const (
	onceCL uint16 = 1 << iota
	onceTE
	onceAuthz
	onceAPIKey
	onceReqID
	onceHost
	onceApproval
	onceTenant // tenant header lines (tenantheader.go)
)

// once records a line of the header whose bit is bit: a second sets its
// bit in twice, which stays set however many follow (no count to wrap).
func (n *headerCounts) once(bit uint16) {
	n.twice |= n.seen & bit
	n.seen |= bit
}

// maxStrippedHeaders is the most X-Portcullis-*, X-Forwarded-* and
// proxy (proxyName) lines a request may carry. The sidecar removes every one, a pass over the header
// map per name (delMatching), so thousands of distinct names in a 16 KiB
// header block were quadratic CPU for one request; a client behind other
// proxies sends a handful (For, Proto, Host, Port, Prefix, Client-Cert).
const maxStrippedHeaders = 32

// valid reports whether the counts allow the request: each header at most
// once, one framing and one credential at most, and at most
// maxStrippedHeaders lines to remove.
func (n *headerCounts) valid() bool {
	return n.twice == 0 && n.seen&(onceCL|onceTE) != onceCL|onceTE && n.seen&(onceAuthz|onceAPIKey) != onceAuthz|onceAPIKey &&
		n.stripped <= maxStrippedHeaders
}

// tokenLen returns the length of the run of token bytes b starts with.
func tokenLen(b []byte) int {
	t := tokenTable
	_ = t[0] // its nil check, once
	for i, c := range b {
		if !t[c] {
			return i
		}
	}
	return len(b)
}

// commonNameLen returns the length of the name line starts with when it
// is Host, User-Agent or X-API-Key (in any case) followed by ':', and 0
// otherwise. Nearly every request carries those three, and tokenLen reads
// a name byte by byte (issue 18: BenchmarkDecide); here it is one word
// and a few bytes. Only the letters' bytes are case folded, so a match is
// exactly one of the three names and its colon: the same length tokenLen
// finds (TestCommonNameLenSame).
func commonNameLen(line []byte) int {
	if len(line) < 10 {
		return 0
	}
	w, t := binary.LittleEndian.Uint64(line), binary.LittleEndian.Uint16(line[8:])
	switch {
	case (w|foldHost)&(1<<40-1) == wordHost:
		return len("Host")
	case w|foldXAPIKe == wordXAPIKe && t|0x20 == 'y'|':'<<8:
		return len("X-API-Key")
	case w|foldUserAge == wordUserAge && t|0x2020 == 'n'|'t'<<8 && len(line) > 10 && line[10] == ':':
		return len("User-Agent")
	}
	return 0
}

// The first words of the lines commonNameLen knows, in lower case, and
// the case fold of each: 0x20 in the bytes that are letters, 0 in the
// others (a '\r' folded would read as '-').
const (
	wordHost    = 'h' | 'o'<<8 | 's'<<16 | 't'<<24 | ':'<<32
	foldHost    = 0x20202020
	wordXAPIKe  = 'x' | '-'<<8 | 'a'<<16 | 'p'<<24 | 'i'<<32 | '-'<<40 | 'k'<<48 | 'e'<<56
	foldXAPIKe  = 0x2020_0020_2020_0020
	wordUserAge = 'u' | 's'<<8 | 'e'<<16 | 'r'<<24 | '-'<<32 | 'a'<<40 | 'g'<<48 | 'e'<<56
	foldUserAge = 0x2020_2000_2020_2020
)

// note records the header name: value (name a token) in h and n, and
// reports whether its value is acceptable (a Host of host bytes, a
// Transfer-Encoding of "chunked"). Names are compared only when their
// length can match; up to 16 bytes as their two nameKey words, longer
// ones, which are rare, byte by byte.
func (h *requestHeaders) note(name, value []byte, n *headerCounts) bool {
	k := nameKey(name)
	if len(name) >= len(forwardedPrefix) && uint16(k.a) == 'x'|'-'<<8 {
		if k.a == keyPortcullis.a && internalName(name) {
			h.internal = true
			n.stripped++
			if len(name) == len(hdrApproval) && foldEqual(name, "x-portcullis-approval") {
				n.once(onceApproval)
				h.approval = trimOWS(value)
			}
			return true
		}
		if k.a == keyForwarded.a && foldPrefix(name, forwardedPrefix) {
			h.dropped = true
			n.stripped++
			h.xff = h.xff || k == keyXFF && len(name) == len("X-Forwarded-For")
			return true
		}
	}
	if len(name) == len("X-API-Key") && k == keyAPIKey {
		// Before proxyName, whose switch this name, on nearly every
		// request, reached with two prefix compares (issue 18).
		n.once(onceAPIKey)
		h.apiKey, h.creds, h.keyHdr = trimOWS(value), true, true
		return true
	}
	if proxyName(name) {
		h.dropped = true
		n.stripped++
		return true
	}
	switch len(name) { // compare only names of a length that can match
	case len("Host"):
		if k == keyHost {
			n.once(onceHost)
			return validHost(trimOWS(value))
		}
	case len("Content-Length"): // and X-Original-URL, -URI, True-Client-IP, X-ProxyUser-Ip
		if k == keyContentLength {
			n.once(onceCL)
		} else {
			h.dropped = h.dropped || k == keyOriginalURL || k == keyOriginalURI || k == keyTrueClientIP || k == keyProxyUserIP
		}
	case len("X-Original-Host"): // and Proxy-Client-IP, Incap-Client-IP, Front-End-Https
		h.dropped = h.dropped || k == keyOriginalHost || k == keyProxyClientIP || k == keyIncapClientIP || k == keyFrontEndHTTPS
	case len("Transfer-Encoding"): // and X-Method-Override
		if foldEqual(name, "transfer-encoding") {
			n.once(onceTE)
			h.hop = true
			h.chunked = len(trimOWS(value)) == len("chunked") && foldEqual(trimOWS(value), "chunked")
			return h.chunked
		}
		h.dropped = h.dropped || foldEqual(name, "x-method-override") || foldEqual(name, "x-original-method") ||
			foldEqual(name, "x-sucuri-clientip")
	case len("Authorization"): // and X-Rewrite-URL, X-HTTP-Method, X-Script-Name, Forwarded-For, Fly-Client-IP
		if k == keyAuthorization {
			n.once(onceAuthz)
			h.authz, h.creds = trimOWS(value), true
		} else {
			h.dropped = h.dropped || k == keyRewriteURL || k == keyHTTPMethod || k == keyScriptName ||
				k == keyForwardedFor || k == keyFlyClientIP
		}
	case len("X-API-Key"): // and X-Real-IP, Forwarded, Client-IP, Tenant-Id (X-API-Key above)
		switch k {
		case keyForwardedRFC:
			h.dropped, h.fwd = true, true
		case keyRealIP, keyClientIP:
			h.dropped = true
		case keyTenantIDDash:
			h.noteTenant(value, n)
		}
	case len("X-Client-IP"): // and X-Forwarded, X-Tenant-Id
		h.dropped = h.dropped || k == keyXClientIP || k == keyXForwardedBare
		if k == keyXTenantIDDash {
			h.noteTenant(value, n)
		}
	case len("X-Request-ID"): // and X-Url-Scheme
		if k == keyRequestID {
			n.once(onceReqID)
			h.requestID = trimOWS(value)
		}
		h.dropped = h.dropped || k == keyURLScheme
	case len("X-Scheme"): // and X-Tenant, TenantId
		h.dropped = h.dropped || k == keyXScheme
		if k == keyXTenant || k == keyTenantID {
			h.noteTenant(value, n)
		}
	case len("Connection"): // and Keep-Alive, X-TenantId
		h.hop = h.hop || k == keyConnection || k == keyKeepAlive
		// fasthttp ends the connection only for a line that is exactly
		// "close", and a later Connection line clears even that.
		h.close = h.close || k == keyConnection && inList(value, closeOption)
		if k == keyXTenantID {
			h.noteTenant(value, n)
		}
	case len("TE"):
		h.hop = h.hop || k == keyTE
	case len("Expect"): // and X-Host, Cookie, Tenant
		h.expect = h.expect || k == keyExpect
		h.dropped = h.dropped || k == keyXHost
		h.cookie = h.cookie || k == keyCookie
		if k == keyTenant {
			h.noteTenant(value, n)
		}
	case len("Trailer"): // and Upgrade
		h.hop = h.hop || k == keyTrailer || k == keyUpgrade
	case len("X-HTTP-Method-Override"), len("X-Envoy-Original-Path"), len("X-Original-Forwarded-For"),
		len("X-Original-Forwarded-Host"), len("Proxy-Authenticate"), len("Proxy-Authorization"):
		h.noteLong(name)
	case len("Proxy-Connection"): // and CF-Connecting-IP, Fastly-Client-IP, DO-Connecting-IP, X-Originating-IP, Content-Encoding
		h.hop = h.hop || k == keyProxyConnection
		h.dropped = h.dropped || k == keyCFConnectingIP || k == keyFastlyClientIP || k == keyDOConnectingIP || k == keyOriginatingIP
		if k == keyContentEncoding {
			v := trimOWS(value)
			h.coded = h.coded || len(v) != len("identity") || !foldEqual(v, "identity")
		}
	}
	return true
}

// noteLong is note for the names of 18, 19, 21, 22, 24 and 25 bytes, all
// compared byte by byte and none on a common request: out of note, whose
// inline cost they would take past the compiler's budget (note stays
// inlined in scanHeaders).
func (h *requestHeaders) noteLong(name []byte) {
	switch len(name) {
	case len("X-HTTP-Method-Override"):
		h.dropped = h.dropped || foldEqual(name, "x-http-method-override")
	case len("X-Envoy-Original-Path"):
		h.dropped = h.dropped || foldEqual(name, "x-envoy-original-path")
	case len("X-Original-Forwarded-For"):
		h.dropped = h.dropped || foldEqual(name, "x-original-forwarded-for")
	case len("X-Original-Forwarded-Host"):
		h.dropped = h.dropped || foldEqual(name, "x-original-forwarded-host")
	case len("Proxy-Authenticate"): // and WL-Proxy-Client-IP
		h.hop = h.hop || foldEqual(name, "proxy-authenticate")
		h.dropped = h.dropped || foldEqual(name, "wl-proxy-client-ip")
	case len("Proxy-Authorization"): // and X-Cluster-Client-IP
		h.hop = h.hop || foldEqual(name, "proxy-authorization")
		h.dropped = h.dropped || foldEqual(name, "x-cluster-client-ip")
	}
}

// closeOption is the connection option that ends a connection after
// its answer (RFC 9112 section 9.6).
var closeOption = []byte("close")

// nameWords are the two words nameKey reads from a header name.
type nameWords struct{ a, b uint64 }

// nameKey reads a header name as two little-endian words, each byte with
// bit 0x20 set (foldEqual's case fold): its first eight and its last
// eight bytes, which overlap or touch when it has 8 to 16 bytes; its
// first four and last four in the first word when it has 4 to 7; its
// bytes in the first word when it has fewer. So two names of one length
// up to 16 are equal, ignoring case, exactly when their words are, and
// comparing a name with one of its length is two compares of words, not
// a loop over bytes (issue 18: BenchmarkScanHeaders).
func nameKey(name []byte) nameWords {
	const fold = 0x2020202020202020
	switch n := len(name); {
	case n >= 8:
		return nameWords{binary.LittleEndian.Uint64(name) | fold, binary.LittleEndian.Uint64(name[n-8:]) | fold}
	case n >= 4:
		lo, hi := binary.LittleEndian.Uint32(name), binary.LittleEndian.Uint32(name[n-4:])
		return nameWords{uint64(lo) | uint64(hi)<<32 | fold, 0}
	}
	var w uint64
	for i, c := range name {
		w |= uint64(c|0x20) << (8 * i)
	}
	return nameWords{w, 0}
}

// The nameKey words of the names scanHeaders looks for, of up to 16
// bytes, and of the first eight bytes of the prefixes it removes.
var (
	keyHost            = nameKey([]byte("host"))
	keyContentLength   = nameKey([]byte("content-length"))
	keyOriginalURL     = nameKey([]byte("x-original-url"))
	keyOriginalURI     = nameKey([]byte("x-original-uri"))
	keyOriginalHost    = nameKey([]byte("x-original-host"))
	keyXHost           = nameKey([]byte("x-host"))
	keyAuthorization   = nameKey([]byte("authorization"))
	keyRewriteURL      = nameKey([]byte("x-rewrite-url"))
	keyHTTPMethod      = nameKey([]byte("x-http-method"))
	keyScriptName      = nameKey([]byte("x-script-name"))
	keyAPIKey          = nameKey([]byte("x-api-key"))
	keyForwardedRFC    = nameKey([]byte("forwarded"))
	keyRealIP          = nameKey([]byte("x-real-ip"))
	keyClientIP        = nameKey([]byte("client-ip"))
	keyXClientIP       = nameKey([]byte("x-client-ip"))
	keyTrueClientIP    = nameKey([]byte("true-client-ip"))
	keyCFConnectingIP  = nameKey([]byte("cf-connecting-ip"))
	keyFastlyClientIP  = nameKey([]byte("fastly-client-ip"))
	keyDOConnectingIP  = nameKey([]byte("do-connecting-ip"))
	keyProxyClientIP   = nameKey([]byte("proxy-client-ip"))
	keyIncapClientIP   = nameKey([]byte("incap-client-ip"))
	keyFrontEndHTTPS   = nameKey([]byte("front-end-https"))
	keyOriginatingIP   = nameKey([]byte("x-originating-ip"))
	keyProxyUserIP     = nameKey([]byte("x-proxyuser-ip"))
	keyURLScheme       = nameKey([]byte("x-url-scheme"))
	keyXScheme         = nameKey([]byte("x-scheme"))
	keyFlyClientIP     = nameKey([]byte("fly-client-ip"))
	keyForwardedFor    = nameKey([]byte("forwarded-for"))
	keyXForwardedBare  = nameKey([]byte("x-forwarded"))
	keyRequestID       = nameKey([]byte("x-request-id"))
	keyConnection      = nameKey([]byte("connection"))
	keyKeepAlive       = nameKey([]byte("keep-alive"))
	keyTE              = nameKey([]byte("te"))
	keyExpect          = nameKey([]byte("expect"))
	keyCookie          = nameKey([]byte("cookie"))
	keyTenant          = nameKey([]byte("tenant"))
	keyXTenant         = nameKey([]byte("x-tenant"))
	keyTenantID        = nameKey([]byte("tenantid"))
	keyTenantIDDash    = nameKey([]byte("tenant-id"))
	keyXTenantID       = nameKey([]byte("x-tenantid"))
	keyXTenantIDDash   = nameKey([]byte("x-tenant-id"))
	keyTrailer         = nameKey([]byte("trailer"))
	keyUpgrade         = nameKey([]byte("upgrade"))
	keyProxyConnection = nameKey([]byte("proxy-connection"))
	keyContentEncoding = nameKey([]byte("content-encoding"))
	keyXFF             = nameKey([]byte("x-forwarded-for"))
	keyPortcullis      = nameKey([]byte(internalPrefix))
	keyForwarded       = nameKey([]byte(forwardedPrefix))
)

// hostByte classes the bytes a Host value may hold: 0 for letters,
// digits, '.' and '-', hostColon for ':' (a port, checked by
// validHostPort); hostBad for anything else (userinfo's '@', brackets,
// '%', '/'), which is refused rather than forwarded.
var hostByte = func() (t [256]uint8) {
	for c := range t {
		t[c] = hostBad
	}
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") {
		t[c] = 0
	}
	t[':'] = hostColon
	return t
}()

// The classes of hostByte besides 0.
const (
	hostColon = 1
	hostBad   = 2
)

// validHost reports whether a Host value holds only hostByte bytes, at
// most one ':', and after it a TCP port (validHostPort). fasthttp's URI
// parse refuses a port that is not digits or a second ':', but not one
// out of range: svc:99999999999 went on to the service as sent. The loop
// only ORs the classes, so that a Host without a port (nearly every one)
// costs what the byte check alone did, and validHost stays small enough
// to inline.
func validHost(v []byte) bool {
	var seen uint8
	for _, c := range v {
		seen |= hostByte[c]
	}
	return seen == 0 || validHostPort(v)
}

// validHostPort reports whether v, a Host value holding a byte whose
// hostByte class is not 0, holds no hostBad byte, one ':' only, and after
// it digits of a value up to 65535; an empty port is a port too (RFC
// 9110's port is *DIGIT, and fasthttp takes "svc:"). A port of more than
// one digit may not start with 0: RFC 9110 allows svc:00080, but a parser
// that reads a leading 0 as octal takes svc:010 for port 8, so the sidecar
// and the service could read two ports from one Host; browsers and curl
// never send one (TestHostPortLeadingZerosRefused).
func validHostPort(v []byte) bool {
	i := bytes.IndexByte(v, ':')
	if i < 0 {
		return false // a hostBad byte
	}
	for _, c := range v[:i] {
		if hostByte[c] != 0 {
			return false
		}
	}
	if len(v) > i+2 && v[i+1] == '0' {
		return false
	}
	n := 0
	for _, c := range v[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return false
		}
	}
	return true
}

// foldEqual reports whether the header name equals want, a lower-case
// ASCII string, ignoring case. Setting bit 0x20 folds case exactly on
// token bytes (RFC 9110 section 5.6.2), which is all a name that passed
// scanHeaders holds: no other token byte folds onto a letter, digit or
// '-'. A name of another length is not equal (it was once only the
// caller's promise, and a Connection list naming "h" indexed past its end).
func foldEqual(name []byte, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := range len(want) {
		if name[i]|0x20 != want[i] {
			return false
		}
	}
	return true
}

// versionOK reports whether the request line names HTTP/1.1 or HTTP/1.0.
// fasthttp takes any "HTTP/d.d" and the request goes to the upstream with
// the version it came with, which the upstream may frame differently from
// the sidecar (HTTP/9.9, HTTP/0.9); the sidecar speaks only these two.
func versionOK(h *fasthttp.RequestHeader) bool {
	p := h.Protocol()
	return string(p) == "HTTP/1.1" || string(p) == "HTTP/1.0"
}

// foldPrefix reports whether the header name begins with want, ignoring
// case as foldEqual does.
func foldPrefix(name []byte, want string) bool {
	return len(name) >= len(want) && foldEqual(name[:len(want)], want)
}

// tokenByte marks the bytes scanHeaders takes in a field name: the
// letters, digits and '-' of an RFC 9110 token. The token's other bytes
// ('_', '.', '~', '!' and the rest) are refused: servers fold them into
// '-' or '_' (CGI-style gateways such as lighttpd's CGI, FastCGI and SCGI
// turn every one into '_', HTTP_X_PORTCULLIS_TENANT), so such a name would
// reach the service as a header the sidecar sets or removes.
var tokenByte = func() (t [256]bool) {
	for _, c := range []byte("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		t[c] = true
	}
	return t
}()

// noteSkip tells the names note does nothing with apart by their first
// byte and length, so that scanHeaders need not call it for them: bit L
// of noteSkip[c] is set when no name note acts on (notedNames) starts
// with c and has L bytes. A name starting with 'x', or with a byte
// proxyName looks at further (proxyFirst, whose names are prefixes of any
// length), is never skipped, nor is a name of 64 bytes or more (the shift
// leaves no bit). TestNoteSkipSkipsNothingNoted checks every name the
// package's source spells against note itself.
var noteSkip = func() (t [256]uint64) {
	for c := range 256 {
		if tokenByte[c] && !proxyFirst[c] && c|0x20 != 'x' {
			t[c] = ^uint64(0)
		}
	}
	for _, name := range notedNames {
		for _, c := range []byte{name[0], name[0] &^ 0x20} { // either case of its first letter
			t[c] &^= 1 << len(name)
		}
	}
	return t
}()

// notedNames are the names note compares whole (the prefixes it removes
// start with 'x' or a proxyFirst byte, which noteSkip never skips).
var notedNames = []string{
	"host", "content-length", "x-original-url", "x-original-uri", "true-client-ip", "x-proxyuser-ip",
	"x-original-host", "proxy-client-ip", "incap-client-ip", "front-end-https",
	"transfer-encoding", "x-method-override", "x-original-method", "x-sucuri-clientip",
	"authorization", "x-rewrite-url", "x-http-method", "x-script-name", "forwarded-for", "fly-client-ip",
	"x-api-key", "forwarded", "x-real-ip", "client-ip", "tenant-id",
	"x-client-ip", "x-forwarded", "x-tenant-id", "x-http-method-override", "x-envoy-original-path",
	"x-original-forwarded-for", "x-original-forwarded-host", "x-request-id", "x-url-scheme",
	"x-scheme", "x-tenant", "tenantid", "connection", "keep-alive", "x-tenantid", "te",
	"expect", "x-host", "cookie", "tenant", "trailer", "upgrade",
	"proxy-authenticate", "wl-proxy-client-ip", "proxy-authorization", "x-cluster-client-ip",
	"proxy-connection", "cf-connecting-ip", "fastly-client-ip", "do-connecting-ip", "x-originating-ip",
	"content-encoding", "x-forwarded-for", "x-portcullis-approval",
}

// tokenTable is tokenByte's address, read from a variable so that the
// compiler keeps it in a register through tokenLen's loop instead of
// computing it again for every byte.
var tokenTable = &tokenByte

// trimOWS drops the optional whitespace (and a line's CR) around a value.
func trimOWS(v []byte) []byte {
	if n := len(v); n >= 2 && v[0] == ' ' && v[n-1] == '\r' { // "Name: value\r", nearly every line
		v = v[1 : n-1]
	}
	for len(v) > 0 && (v[len(v)-1] == '\r' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	return v
}
