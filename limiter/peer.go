package limiter

import "net/netip"

// ipv6HostBits is the prefix length a per-address connection cap counts an
// IPv6 peer by: one host holds a whole /64 (SLAAC and privacy addresses
// give it one), so counting each address apart would let one host take
// every connection up to the overall cap.
const ipv6HostBits = 64

// PeerKey is what a per-address connection cap counts peer under: an IPv4
// address itself, an IPv6 address by its /64. An IPv4-mapped IPv6 address
// (::ffff:192.0.2.1, as a dual-stack listener reports an IPv4 peer) is
// its IPv4 address: its /64 is ::, which every IPv4 peer shares. The
// sidecar's --max-conns-per-ip, its token budget, the collector's
// unauthenticated connections per client address and the injector's
// connections per peer all count by it.
func PeerKey(peer netip.Addr) netip.Addr {
	peer = peer.Unmap()
	if !peer.Is6() {
		return peer
	}
	p, err := peer.Prefix(ipv6HostBits)
	if err != nil {
		return peer
	}
	return p.Addr()
}
