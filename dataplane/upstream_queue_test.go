package dataplane

import (
	"sync"
	"testing"
	"time"
)

// At the connection cap a request waits for a free upstream connection,
// up to UpstreamTimeout, "rather than failing at once" (newUpstream), and
// then has the whole upstream timeout for its response: the timeouts run
// from when it got the connection, not from its arrival. Found by an
// outside review: with them from the arrival, the second request behind a
// 2 s response on the one connection was 504, though its service answered
// in 2 s of a 3 s timeout.
func TestQueuedRequestKeepsItsUpstreamTimeout(t *testing.T) {
	// Both requests are one tenant's: its cap (TenantMaxInFlight, 1 of a
	// pool of 1) is raised so that the second queues at the pool.
	st := startStack(t, func(c *Config) { c.MaxUpstreamConn, c.UpstreamTimeout, c.TenantMaxInFlight = 1, 3*time.Second, 2 })
	st.store.Swap(withoutLimits(t, loadExample(t)))
	st.up.delay = 2 * time.Second
	var wg sync.WaitGroup
	var first reply
	wg.Go(func() { first = do(t, st.addr, "GET", "/v1/users/1", key(hrisKey), "") })
	deadline := time.Now().Add(30 * time.Second)
	for st.up.arrived.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	second := do(t, st.addr, "GET", "/v1/users/2", key(hrisKey), "")
	wg.Wait()
	if first.status != 200 {
		t.Fatalf("first request: %d %q, want 200", first.status, first.body)
	}
	if second.status != 200 {
		t.Errorf("request that waited for the one upstream connection: %d %q, want 200 (its upstream answered in 2s of the 3s timeout)", second.status, second.body)
	}
}
