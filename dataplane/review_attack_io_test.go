package dataplane

import (
	"sync"
	"testing"
	"time"
)

// At the connection cap a request waits for a free upstream connection,
// up to UpstreamTimeout, "rather than failing at once" (newUpstream). The
// upstream deadlines now run from the request's arrival, so the time it
// waited for the connection is taken out of its upstream timeout: a
// second request behind a 2 s response on the one connection is 504 even
// though the service answers it in 2 s of a 3 s timeout.
func TestReviewQueuedRequestKeepsItsUpstreamTimeout(t *testing.T) {
	st := startStack(t, func(c *Config) { c.MaxUpstreamConn, c.UpstreamTimeout = 1, 3*time.Second })
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
