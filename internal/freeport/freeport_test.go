package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestAddrBelowTheEphemeralRangeAndListenable: each address is a loopback
// port in [Lowest, End), none twice, and a server can listen on it.
func TestAddrBelowTheEphemeralRangeAndListenable(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr := Addr(t)
		host, p, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("Addr = %q: not a loopback address (%v)", addr, err)
		}
		port, _ := strconv.Atoi(p)
		if port < Lowest || port >= End {
			t.Fatalf("Addr = %q: port outside [%d, %d)", addr, Lowest, End)
		}
		if seen[addr] {
			t.Fatalf("Addr handed out %q twice", addr)
		}
		seen[addr] = true
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %q: %v", addr, err)
		}
		ln.Close()
	}
}
