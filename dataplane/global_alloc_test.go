//go:build !race

package dataplane

import "testing"

// Global limits add no allocation: the demand count and the shared
// limits are reads of tables built when the shares were pushed.
func TestGlobalAllocations(t *testing.T) {
	for _, c := range []struct {
		name   string
		limits bool
		status int
	}{{"allowed", false, 200}, {"429 rate", true, 429}} {
		t.Run(c.name, func(t *testing.T) {
			m := newInmem(t, c.limits)
			globalMode(m)
			raw := request("GET", "/v1/users/42", hrisKey)
			for range 50 {
				m.serve(t, raw)
			}
			m.srv.keys.Wait()
			if got := m.serve(t, raw); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			if allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) }); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}
