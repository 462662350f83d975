package dataplane

import (
	"bytes"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// sourceAddr is the client address: the TCP peer, unless the peer is a
// trusted proxy, in which case the right-most X-Forwarded-For (or, without
// one, Forwarded) entry that is not itself a trusted proxy. A header from
// an untrusted peer is ignored, so nobody can spoof their way into an
// allowlist. A trusted peer's request carrying both headers is refused:
// which of the two lists would be the truth?
func (s *Server) sourceAddr(ctx *fasthttp.RequestCtx, x *exchange) (netip.Addr, bool) {
	return sourceIn(ctx.Request.Header.RawHeaders(), x)
}

// sourceIn is sourceAddr on the raw header block raw, scanned into x.hdr:
// errorHandler's for a head fasthttp reset (headNames).
func sourceIn(raw []byte, x *exchange) (netip.Addr, bool) {
	if !trusted(x.snap.TrustedProxies, x.peer) {
		return x.peer, true
	}
	if x.hdr.xff && x.hdr.fwd {
		return netip.Addr{}, false
	}
	return forwardedSource(raw, x.peer, x.snap.TrustedProxies, x.hdr.fwd)
}

// trusted reports whether a is inside one of the trusted proxies' prefixes.
func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxForwardLines bounds the X-Forwarded-For (or Forwarded) lines a request
// may carry; more is refused rather than read in part.
const maxForwardLines = 16

// forwardedSource returns the client address a request from peer carries
// in the raw header block: peer itself unless peer is a trusted proxy;
// otherwise the right-most address of the X-Forwarded-For lines, combined
// in order as one list (RFC 9110 section 5.3), that is not a trusted proxy,
// or peer when every address is trusted. With fwd, the RFC 7239 Forwarded
// lines are read the same way (their "for" parameters). An entry that is
// not an address ("unknown", an obfuscated node, garbage) before an
// untrusted one is found gives an invalid address: no allowlist matches
// it. ok is false when the header block cannot be read as one list (too
// many lines).
func forwardedSource(raw []byte, peer netip.Addr, proxies []netip.Prefix, fwd bool) (src netip.Addr, ok bool) {
	if !trusted(proxies, peer) {
		return peer, true
	}
	name := "x-forwarded-for"
	if fwd {
		name = "forwarded"
	}
	var lines [maxForwardLines][]byte
	n := 0
	for _, v := range headerValues(raw, name) {
		if n == len(lines) {
			return netip.Addr{}, false
		}
		lines[n] = v
		n++
	}
	for i := n - 1; i >= 0; i-- {
		list := lines[i]
		for len(list) > 0 {
			var item []byte
			list, item = lastItem(list)
			a, good := forwardedAddr(item, fwd)
			if !good {
				return netip.Addr{}, true
			}
			if !trusted(proxies, a) {
				return a, true
			}
		}
	}
	return peer, true
}

// headerValues yields the values of the header lines of raw named name (a
// lower-case name), in order. raw must have passed scanHeaders.
func headerValues(raw []byte, name string) func(func(int, []byte) bool) {
	return func(yield func(int, []byte) bool) {
		k := 0
		for line := range bytes.Lines(raw) {
			c := bytes.IndexByte(line, ':')
			if c != len(name) || !foldEqual(line[:c], name) {
				continue
			}
			if !yield(k, trimOWS(bytes.TrimRight(line[c+1:], "\n"))) {
				return
			}
			k++
		}
	}
}

// lastItem splits the last comma-separated item off list, minding quoted
// strings (RFC 9110 section 5.6.4), and returns the rest and the item
// without surrounding whitespace.
func lastItem(list []byte) (rest, item []byte) {
	quoted := false
	for i := len(list) - 1; i >= 0; i-- {
		switch list[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return list[:i], trimOWS(list[i+1:])
			}
		}
	}
	return nil, trimOWS(list)
}

// forwardedAddr parses one item: an address (X-Forwarded-For) or, with
// fwd, a Forwarded element whose "for" parameter is an address, IPv6 in
// brackets, either with an optional port. Mapped IPv4 is unmapped.
func forwardedAddr(item []byte, fwd bool) (netip.Addr, bool) {
	if fwd {
		var ok bool
		if item, ok = forParam(item); !ok {
			return netip.Addr{}, false
		}
	}
	if len(item) > 0 && item[0] == '[' {
		end := bytes.IndexByte(item, ']')
		if end < 0 || (end+1 < len(item) && !validPort(item[end+1:])) {
			return netip.Addr{}, false
		}
		item = item[1:end]
	} else if c := bytes.IndexByte(item, ':'); c >= 0 && bytes.Count(item, []byte(":")) == 1 {
		if !validPort(item[c:]) {
			return netip.Addr{}, false
		}
		item = item[:c]
	}
	if len(item) == 0 {
		return netip.Addr{}, false
	}
	// ParseAddr keeps nothing of its argument once it returns (a zone is
	// cloned into a unique handle), so the bytes are lent to it rather
	// than copied: no allocation per request behind a trusted proxy.
	a, err := netip.ParseAddr(unsafe.String(&item[0], len(item)))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// forParam returns the value of the "for" parameter of a Forwarded element
// (RFC 7239 section 4), unquoted; a parameter given twice is refused.
func forParam(elem []byte) ([]byte, bool) {
	var val []byte
	found := false
	for len(elem) > 0 {
		var pair []byte
		pair, elem = nextPair(elem)
		eq := bytes.IndexByte(pair, '=')
		if eq < 0 {
			return nil, false
		}
		name := bytes.TrimSpace(pair[:eq])
		if len(name) != 3 || !foldEqual(name, "for") {
			continue
		}
		if found {
			return nil, false
		}
		found = true
		val = bytes.TrimSpace(pair[eq+1:])
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		if bytes.IndexByte(val, '"') >= 0 || bytes.IndexByte(val, '\\') >= 0 {
			return nil, false
		}
	}
	return val, found
}

// nextPair splits the first ';'-separated pair off elem, minding quotes.
func nextPair(elem []byte) (pair, rest []byte) {
	quoted := false
	for i, c := range elem {
		switch c {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				return elem[:i], elem[i+1:]
			}
		}
	}
	return elem, nil
}

// validPort reports whether p is ':' followed by 1 to 5 digits.
func validPort(p []byte) bool {
	if len(p) < 2 || len(p) > 6 || p[0] != ':' {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
