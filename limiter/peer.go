package limiter

import "net/netip"

// ipv6HostBits is the prefix length a per-address connection cap counts an
// IPv6 peer by: one host holds a whole /64 (SLAAC and privacy addresses
// give it one), so counting each address apart would let one host take
// every connection up to the overall cap.
const ipv6HostBits = 64

// PeerKey is what a per-address connection cap counts peer under: an IPv4
// address itself, an IPv6 address by its /64. The sidecar's
// --max-conns-per-ip and the collector's unauthenticated connections per
// client address both count by it.
func PeerKey(peer netip.Addr) netip.Addr {
	if !peer.Is6() {
		return peer
	}
	p, err := peer.Prefix(ipv6HostBits)
	if err != nil {
		return peer
	}
	return p.Addr()
}
