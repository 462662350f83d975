package dataplane

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

// FuzzSplitTarget checks splitTarget on arbitrary request targets: it never
// panics; an accepted target gives a path that is "/" or a slice of the
// target starting with '/', without '?' (never empty); a query of query bytes only; and
// an accepted absolute form never carries userinfo. Seeds are in
// testdata/fuzz/FuzzSplitTarget.
func FuzzSplitTarget(f *testing.F) {
	f.Add("/v1/users?a=1")
	f.Fuzz(func(t *testing.T, target string) {
		path, query, ok := splitTarget([]byte(target))
		if !ok {
			return
		}
		if len(path) == 0 || path[0] != '/' || bytes.IndexByte(path, '?') >= 0 {
			t.Fatalf("splitTarget(%q) path %q: not origin form", target, path)
		}
		if !validQuery(query) {
			t.Fatalf("splitTarget(%q) query %q holds bytes a query may not", target, query)
		}
		if !strings.HasPrefix(target, "/") {
			scheme, rest, _ := strings.Cut(target, "://")
			authority, _, _ := strings.Cut(strings.SplitN(rest, "?", 2)[0], "/")
			if strings.ContainsAny(authority, "@%[]") || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
				t.Fatalf("splitTarget(%q) accepted scheme %q authority %q", target, scheme, authority)
			}
		}
	})
}

// FuzzForwardedSource checks the X-Forwarded-For and Forwarded parser on
// arbitrary header blocks, read from a trusted peer: it never panics, and
// the source it returns is invalid, the peer itself (every hop trusted), or
// an address no trusted proxy holds. From an untrusted peer the headers
// are not read at all. Seeds are in testdata/fuzz/FuzzForwardedSource.
func FuzzForwardedSource(f *testing.F) {
	f.Add("X-Forwarded-For: 10.0.0.5\r\nX-Forwarded-For: 203.0.113.9\r\n", false)
	f.Add("Forwarded: for=\"[2001:db8::1]:80\";proto=https, for=127.0.0.2\r\n", true)
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, raw string, fwd bool) {
		if !scanHeaders([]byte(raw), new(requestHeaders)) {
			return // refused before it is parsed
		}
		src, ok := forwardedSource([]byte(raw), peer, proxies, fwd)
		if !ok {
			return
		}
		if src.IsValid() && src != peer && trusted(proxies, src) {
			t.Fatalf("forwardedSource(%q) = %v, a trusted proxy", raw, src)
		}
		if src.Zone() != "" || src.Is4In6() {
			t.Fatalf("forwardedSource(%q) = %v: zoned or mapped", raw, src)
		}
		untrusted := netip.MustParseAddr("198.51.100.7")
		if got, _ := forwardedSource([]byte(raw), untrusted, proxies, fwd); got != untrusted {
			t.Fatalf("from an untrusted peer: got %v, want the peer", got)
		}
	})
}
