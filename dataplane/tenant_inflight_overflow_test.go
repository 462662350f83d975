package dataplane

import (
	"strconv"
	"testing"
	"time"
)

// TestTenantInFlightPastTheMetricCells: the tenants' metric cells are
// bounded (maxTenantCells, every tenant a policy named since start), and
// a tenant past them shares one cell, summed in _other. Its default
// in-flight count lived in that cell, so every such tenant shared one
// count of --tenant-max-in-flight: one of them holding its slots refused
// every other with 429 concurrency_limited. Here the cells are taken by
// tenants of earlier policies, acme's one request in flight is held at
// the upstream, and globex's request must still be served.
func TestTenantInFlightPastTheMetricCells(t *testing.T) {
	u := startBusyUpstream(t)
	st := startStack(t, func(c *Config) {
		c.Upstream, c.MaxUpstreamConn, c.UpstreamTimeout, c.TenantMaxInFlight = u.addr, 4, 5*time.Second, 1
	})
	tt := &st.srv.metrics.tenants
	tt.mu.Lock()
	tt.byID, tt.entries = nil, nil
	tt.mu.Unlock()
	for i := range maxTenantCells { // tenants of earlier policies
		tt.cell("gone-" + strconv.Itoa(i))
	}
	st.store.Swap(withoutLimits(t, loadExample(t)))
	p := st.srv.prepared.Load()
	if p.tenantCell[0] != &tt.overflow || p.tenantCell[1] != &tt.overflow {
		t.Fatal("the policy's tenants did not get the shared overflow cell")
	}

	held := make(chan reply, 1)
	go func() { held <- do(t, st.addr, "GET", "/v1/users/1", key(hrisKey), "") }()
	select {
	case <-u.held:
	case r := <-held:
		t.Fatalf("acme's request was answered %d %q, want it held at the upstream", r.status, r.body)
	case <-time.After(10 * time.Second):
		t.Fatal("acme's request never reached the upstream")
	}
	other := do(t, st.addr, "GET", "/v1/reports/1", key(globexKey), "")
	u.open()
	<-held
	if other.status != 200 {
		t.Errorf("globex's request while acme holds its one slot: %d %q, want 200 (a count of its own)", other.status, other.body)
	}
}
