package limiter

import (
	"net/netip"
	"testing"
)

// A per-address connection cap counts an IPv4 peer by its address and an
// IPv6 peer by its /64: one host holds a whole /64. An IPv4-mapped address
// is its IPv4 address (the injector's copy of this rule unmapped it, and
// this one did not: every IPv4 peer reported mapped counted as ::).
func TestPeerKey(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"fe80::1", "fe80::2"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
	} {
		if ka, kb := PeerKey(netip.MustParseAddr(c.a)), PeerKey(netip.MustParseAddr(c.b)); ka != kb {
			t.Errorf("%s and %s (one peer) count as %s and %s", c.a, c.b, ka, kb)
		}
	}
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.1", "192.0.2.2"},
		// IPv4-mapped: their /64 is ::, which every IPv4 peer shares.
		{"::ffff:192.0.2.1", "::ffff:192.0.2.2"},
		{"::ffff:192.0.2.1", "2001:db8::1"},
	} {
		if ka, kb := PeerKey(netip.MustParseAddr(c.a)), PeerKey(netip.MustParseAddr(c.b)); ka == kb {
			t.Errorf("%s and %s count together as %s", c.a, c.b, ka)
		}
	}
}
