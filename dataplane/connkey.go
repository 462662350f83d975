package dataplane

import "net/netip"

// ipv6HostBits is the prefix length that --max-conns-per-ip counts an IPv6
// peer by: one host holds a whole /64 (SLAAC and privacy addresses give it
// one), so counting each address apart would let one host take every
// connection up to --max-conns.
const ipv6HostBits = 64

// capKey is what the per-IP connection cap counts peer under: an IPv4
// address itself, an IPv6 address by its /64.
func capKey(peer netip.Addr) netip.Addr {
	if !peer.Is6() {
		return peer
	}
	p, err := peer.Prefix(ipv6HostBits)
	if err != nil {
		return peer
	}
	return p.Addr()
}
