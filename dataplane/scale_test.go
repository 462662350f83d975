package dataplane

import (
	"runtime"
	"testing"

	"github.com/portcullis/portcullis/policy/policytest"
)

// The API key front table of a snapshot (authn.Front, a slot pointer per
// key record) is built by the policy writer before the swap, not by the
// first request that meets the new snapshot: that request allocates a few
// small objects, not the table (issue 18: no step linear in the number of
// keys on the request path; 2 MiB at 100,000 keys, see
// BenchmarkDecideAfterSwap).
func TestSwapBuildsKeyFront(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a policy of 30,000 keys")
	}
	sb := newScaleBench(t, policytest.Size{Tenants: 10, Clients: 100, Keys: 30_000, Routes: 10}, 1)
	sb.warm(t)
	sb.store.Swap(sb.compile(t))
	mono, wall := sb.srv.clock.now()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sb.decide(t, sb.ctxs[0], mono, wall)
	runtime.ReadMemStats(&after)
	// The table of 30,000 keys is 512 KiB; what a request may allocate
	// after a swap (its front entry) is under 100 bytes.
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("the first request after a swap allocated %d bytes; want the key table built before the swap (under 64 KiB)", got)
	}
}
