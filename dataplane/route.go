package dataplane

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// routeRequest is step 2 of the request path: it normalises the target
// once, keeps the normal path for forwarding and matches the route.
func (s *Server) routeRequest(ctx *fasthttp.RequestCtx, x *exchange) audit.Decision {
	h := &ctx.Request.Header
	uri := h.RequestURI()
	path, query, ok := splitTarget(uri)
	if !ok {
		return audit.BadRequest
	}
	// An absolute-form target names the host itself, and RFC 9112 section
	// 3.2.2 says to take it over Host; one that disagrees with Host is
	// refused rather than forwarded under either name.
	if uri[0] != '/' && !bytes.EqualFold(targetAuthority(uri), h.Host()) {
		return audit.BadRequest
	}
	if x.path, ok = normalizePath(x.path, path); !ok {
		x.path = x.path[:0] // not a path to audit
		return audit.BadRequest
	}
	x.query = query
	if x.route = x.snap.Match(h.Method(), x.path); x.route == nil {
		return audit.NoRoute
	}
	return audit.Allowed
}

// pathByte marks the bytes a path may carry unencoded: RFC 3986 unreserved
// characters and sub-delimiters, ':' and '@', but not ';'. Path parameters
// (";jsessionid=", "..;/") are where proxies and servlet containers have
// disagreed about which resource a path names, so they are refused.
var pathByte = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@") {
		t[c] = true
	}
	return t
}()

// unreserved marks the characters RFC 3986 section 2.3 says are equivalent
// encoded and decoded; those are decoded, every other escape is kept.
var unreserved = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") {
		t[c] = true
	}
	return t
}()

// queryByte marks the bytes a query string may carry (RFC 3986 section 3.4,
// plus '%' escapes, which are forwarded untouched).
var queryByte = func() (t [256]bool) {
	t = pathByte
	for _, c := range []byte("/?;%") {
		t[c] = true
	}
	return t
}()

var rootPath = []byte("/")

const upperHex = "0123456789ABCDEF"

// normalizePath appends to dst[:0] the normal form of the origin-form path
// p and reports whether p is acceptable. The normal form decodes escaped
// unreserved characters, writes other escapes in upper case, removes "." and
// ".." segments (RFC 3986 section 5.2.4, never above the root) and collapses
// runs of slashes. Encoded '/' or '\', encoded NUL, an escape encoded again
// ("%252e", also when its hex digits are escaped: "%25%32%65"), escapes
// that do not decode to UTF-8 (overlong forms of '.', '/' and '\'), raw
// '\', ';', control and non-ASCII bytes make p unacceptable. Routing and forwarding both use
// the normal form, so the sidecar and the service see the same path.
func normalizePath(dst, p []byte) ([]byte, bool) {
	if isNormal(p) {
		return append(dst[:0], p...), true
	}
	return normalizeSlow(dst, p)
}

// isNormal reports whether p is already in normal form, which is most
// paths: it starts with '/', holds only bytes a path may carry unencoded
// and no escapes, and no segment is empty or starts with '.' (which rules
// out "." and ".." and some names that are in fact normal, which then take
// the slow way).
//
// It is two passes with no branch per byte: the bytes' table entries ORed
// eight at a time, then the pairs "//" and "/." looked for a word at a
// time; the one pass that carried the byte before through a loop took
// twice as long on a typical path (issue 18: BenchmarkDecide).
func isNormal(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	var bad uint8
	q, t := p, &notPath
	for ; len(q) >= 8; q = q[8:] {
		bad |= t[q[0]] | t[q[1]] | t[q[2]] | t[q[3]] | t[q[4]] | t[q[5]] | t[q[6]] | t[q[7]]
	}
	if len(q) > 0 && len(p) >= 8 { // the tail as the last eight bytes, overlapping
		q = p[len(p)-8:]
		bad |= t[q[0]] | t[q[1]] | t[q[2]] | t[q[3]] | t[q[4]] | t[q[5]] | t[q[6]] | t[q[7]]
	} else {
		for _, c := range q {
			bad |= t[c]
		}
	}
	if bad != 0 {
		return false
	}
	if len(p) < 8 {
		for i := 1; i < len(p); i++ {
			if p[i-1] == '/' && (p[i] == '/' || p[i] == '.') {
				return false
			}
		}
		return true
	}
	// Windows of eight bytes seven apart see every pair of neighbours;
	// the last one may overlap the one before.
	for i := 0; i < len(p)-8; i += 7 {
		if slashPair(binary.LittleEndian.Uint64(p[i:])) {
			return false
		}
	}
	return !slashPair(binary.LittleEndian.Uint64(p[len(p)-8:]))
}

// notPath is 1 for the bytes a normal path may not carry: those that are
// neither pathByte nor '/'.
var notPath = func() (t [256]uint8) {
	for c := range t {
		if !pathByte[c] && c != '/' {
			t[c] = 1
		}
	}
	return t
}()

// slashPair reports whether the eight bytes of w (little-endian) hold a
// '/' followed by '/' or '.'.
func slashPair(w uint64) bool {
	s := bytesEqual(w, '/')
	return (s<<8)&(s|bytesEqual(w, '.')) != 0
}

// bytesEqual marks with bit 7 each byte of w that equals c, exactly: the
// sum of a byte's low seven bits and 0x7f carries into bit 7 unless they
// are zero, and no carry crosses into the next byte.
func bytesEqual(w uint64, c byte) uint64 {
	const low7, highs = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	x := w ^ uint64(c)*0x0101010101010101
	return ^((x&low7 + low7) | x) & highs
}

// normalizeSlow is normalizePath for paths that are not already normal.
func normalizeSlow(dst, p []byte) ([]byte, bool) {
	dst = append(dst[:0], '/')
	if len(p) == 0 || p[0] != '/' {
		return dst, false
	}
	for i := 0; i < len(p); {
		for i < len(p) && p[i] == '/' {
			i++
		}
		start := len(dst)
		var ok bool
		if dst, i, ok = appendSegment(dst, p, i); !ok {
			return dst, false
		}
		dst = endSegment(dst, start, i < len(p))
	}
	return dst, !escapedTwice(dst) && escapedUTF8(dst)
}

// escapedUTF8 reports whether the escaped bytes above 0x7f of the normal
// form p (its only bytes above 0x7f: raw ones are refused) spell UTF-8.
// An overlong form is '.', '/' or '\' to a lenient decoder ("%C0%AE",
// "%C0%AF", "%C1%9C", "%E0%80%AE": IIS's directory traversal, Tomcat's
// CVE-2008-2938, Java's modified UTF-8 reading "%ED%A0%80" surrogates),
// where the route saw text; utf8.DecodeRune refuses those, surrogates, a
// sequence cut short and a byte that cannot start one (a Latin-1 "%E9"
// too: RFC 3986 section 2.5 says UTF-8). Escapes in the normal form are
// '%' and two upper-case hex digits.
func escapedUTF8(p []byte) bool {
	for i := 0; i < len(p); {
		if !highEscape(p, i) {
			i++
			continue
		}
		var r [utf8.UTFMax]byte
		n := 0
		for n < len(r) && highEscape(p, i) && !utf8.FullRune(r[:n]) {
			r[n] = byte(unhex(p[i+1])<<4 | unhex(p[i+2]))
			n, i = n+1, i+3
		}
		if c, size := utf8.DecodeRune(r[:n]); size != n || c == utf8.RuneError && size == 1 {
			return false
		}
	}
	return true
}

// highEscape reports whether p[i:] of a normal form starts with the
// escape of a byte above 0x7f (its hex digits are upper case).
func highEscape(p []byte, i int) bool {
	return i+2 < len(p) && p[i] == '%' && p[i+1] >= '8'
}

// escapedTwice reports whether the normal form p holds an escape encoded
// again ("%252e"): a service that decodes twice would see "." or "/"
// where the route saw text. It reads the normal form, not the target, as
// the two hex digits after "%25" may come in escaped themselves
// ("%25%32%65" normalises to "%252e").
func escapedTwice(p []byte) bool {
	for {
		i := bytes.Index(p, []byte("%25"))
		if i < 0 {
			return false
		}
		if i+4 < len(p) && unhex(p[i+3]) >= 0 && unhex(p[i+4]) >= 0 {
			return true
		}
		p = p[i+3:]
	}
}

// appendSegment decodes the segment of p starting at i into dst and returns
// the index of the '/' (or end) that ends it.
func appendSegment(dst, p []byte, i int) ([]byte, int, bool) {
	for i < len(p) && p[i] != '/' {
		c := p[i]
		if c != '%' {
			if !pathByte[c] {
				return dst, i, false
			}
			dst = append(dst, c)
			i++
			continue
		}
		if i+2 >= len(p) || unhex(p[i+1]) < 0 || unhex(p[i+2]) < 0 {
			return dst, i, false
		}
		v := byte(unhex(p[i+1])<<4 | unhex(p[i+2]))
		switch {
		case unreserved[v]:
			dst = append(dst, v)
		case v == '/' || v == '\\' || v == 0:
			return dst, i, false
		default:
			dst = append(dst, '%', upperHex[v>>4], upperHex[v&15])
		}
		i += 3
	}
	return dst, i, true
}

// endSegment resolves the segment dst[start:] just written: "." is dropped,
// ".." also drops the segment before it, any other segment is kept and
// followed by '/' when more of the path follows.
func endSegment(dst []byte, start int, more bool) []byte {
	seg := dst[start:]
	switch {
	case len(seg) == 1 && seg[0] == '.':
		return dst[:start]
	case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
		dst = dst[:start]
		if start > 1 {
			dst = dst[:bytes.LastIndexByte(dst[:start-1], '/')+1]
		}
		return dst
	case len(seg) > 0 && more:
		return append(dst, '/')
	}
	return dst
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// splitTarget splits a request target into its path and query (without
// '?'), accepting origin form and absolute form (whose scheme and authority
// are dropped: the upstream is fixed, never taken from the request). An
// absolute form must be http or https with a non-empty authority of host
// bytes only: userinfo ("user:pass@host") is refused, never passed on.
func splitTarget(uri []byte) (path, query []byte, ok bool) {
	if len(uri) == 0 {
		return nil, nil, false
	}
	if uri[0] != '/' {
		i := bytes.Index(uri, []byte("://"))
		if !httpScheme(uri[:max(i, 0)]) {
			return nil, nil, false
		}
		rest := uri[i+3:]
		j := bytes.IndexAny(rest, "/?")
		if j < 0 {
			j = len(rest)
		}
		if j == 0 || !validHost(rest[:j]) {
			return nil, nil, false
		}
		if j == len(rest) {
			return rootPath, nil, true
		}
		if rest[j] == '?' {
			return rootPath, rest[j+1:], validQuery(rest[j+1:])
		}
		uri = rest[j:]
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:], validQuery(uri[i+1:])
	}
	return uri, nil, true
}

// targetAuthority returns the authority of an absolute-form target that
// splitTarget accepted.
func targetAuthority(uri []byte) []byte {
	rest := uri[bytes.Index(uri, []byte("://"))+3:]
	if j := bytes.IndexAny(rest, "/?"); j >= 0 {
		return rest[:j]
	}
	return rest
}

// httpScheme reports whether s is "http" or "https", in any case.
func httpScheme(s []byte) bool {
	return len(s) == 4 && foldEqual(s, "http") || len(s) == 5 && foldEqual(s, "https")
}

func validQuery(q []byte) bool {
	for _, c := range q {
		if !queryByte[c] {
			return false
		}
	}
	return true
}
