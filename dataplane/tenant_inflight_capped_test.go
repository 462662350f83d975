package dataplane

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// A class's concurrency cap bounds the class, not the tenant: its
// requests take one of the tenant's in-flight slots too. Before, they
// took none, so with the example policy and a pool of 4 acme held its
// default cap of 2 in class standard and bulk's 2 besides, all four
// upstream connections, and globex's request waited out the pool's wait
// and was answered 503 upstream_saturated.
func TestCappedClassCannotTakeThePoolBeyondTheTenantCap(t *testing.T) {
	const pool = 4
	u := startBusyUpstream(t)
	st := startStack(t, func(c *Config) {
		c.Upstream, c.MaxUpstreamConn, c.UpstreamTimeout = u.addr, pool, 2*time.Second
	})
	st.store.Swap(withoutLimits(t, loadExample(t)))

	var wg sync.WaitGroup
	answered := make(chan reply, pool)
	export := map[string]string{"X-API-Key": adminKey, "Content-Type": "application/json"}
	for i := range 2 { // acme: two in standard (uncapped), two in bulk (max 2)
		wg.Go(func() { answered <- do(t, st.addr, "GET", "/v1/users/"+strconv.Itoa(i), key(hrisKey), "") })
		wg.Go(func() { answered <- do(t, st.addr, "POST", "/v1/exports", export, "{}") })
	}
	held, refused := u.heldOrAnswered(t, answered, pool)
	other := do(t, st.addr, "GET", "/v1/reports/1", key(globexKey), "")
	u.open()
	wg.Wait()

	if other.status != 200 {
		t.Errorf("globex's request while acme's were held: %d %q, want 200", other.status, other.body)
	}
	if held != pool/2 || len(refused) != pool/2 {
		t.Fatalf("acme: %d held at the upstream, %d answered, want %d and %d (its tenant cap)", held, len(refused), pool/2, pool/2)
	}
	for _, r := range refused {
		if r.status != 429 || r.errorBody(t).Error != "concurrency_limited" || r.header.Get("Retry-After") != "1" {
			t.Errorf("acme's request past its tenant cap: %d %q Retry-After %q, want 429 concurrency_limited with Retry-After 1", r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	st.sink.mu.Lock()
	defer st.sink.mu.Unlock()
	for _, rec := range st.sink.recs {
		if rec.Decision == audit.ConcurrencyLimited && rec.Limit != audit.LimitTenantInFlight {
			t.Errorf("audited limit %q, want tenant_in_flight", rec.Limit)
		}
	}
}
