//go:build !race

package dataplane

import (
	"testing"
)

// The key_expired_by_policy denial allocates nothing, like every other.
func TestKeyExpiredByPolicyAllocations(t *testing.T) {
	m := newInmem(t, false)
	swapDoc(t, m.srv.store, withMaxAge("1h", ""))
	raw := request("GET", "/v1/users/42", hrisKey)
	for range 50 {
		m.serve(t, raw)
	}
	m.srv.keys.Wait()
	if got := m.serve(t, raw); got != 401 {
		t.Fatalf("status %d, want 401", got)
	}
	if allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) }); allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}
