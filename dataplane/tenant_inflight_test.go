package dataplane

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// A tenant whose policy sets no concurrency cap holds at most its default
// share of the upstream connections (half the pool, or
// Config.TenantMaxInFlight), so another tenant still gets a connection at
// once; past it the tenant's requests are refused 429 concurrency_limited
// with Retry-After, audited with the limit tenant_in_flight and counted in
// portcullis_limiter_denials_total{scope="tenant_in_flight"}. Before, one
// tenant's slow requests took all four connections and the other tenant's
// request waited out the pool's wait and was refused.
func TestTenantCannotTakeTheUpstreamPool(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cap    int // Config.TenantMaxInFlight; 0: the default
		admits int
	}{
		{"default: half of the pool", 0, 2},
		{"configured", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const pool = 4
			u := startBusyUpstream(t)
			st := startStack(t, func(c *Config) {
				c.Upstream, c.MaxUpstreamConn, c.UpstreamTimeout, c.TenantMaxInFlight = u.addr, pool, 2*time.Second, tc.cap
			})
			st.store.Swap(withoutLimits(t, loadExample(t)))

			var wg sync.WaitGroup
			answered := make(chan reply, pool)
			for i := range pool { // every connection, all for tenant acme
				wg.Go(func() { answered <- do(t, st.addr, "GET", "/v1/users/"+strconv.Itoa(i), key(hrisKey), "") })
			}
			held, refused := u.heldOrAnswered(t, answered, pool)
			start := time.Now()
			other := do(t, st.addr, "GET", "/v1/reports/1", key(globexKey), "")
			took := time.Since(start)
			u.open()
			wg.Wait()

			if other.status != 200 || took > time.Second {
				t.Errorf("other tenant's request while acme's were held: %d %q after %v, want 200 at once", other.status, other.body, took)
			}
			if held != tc.admits || len(refused) != pool-tc.admits {
				t.Fatalf("acme: %d held at the upstream, %d answered, want %d and %d", held, len(refused), tc.admits, pool-tc.admits)
			}
			for _, r := range refused {
				if r.status != 429 || r.errorBody(t).Error != "concurrency_limited" || r.header.Get("Retry-After") == "" {
					t.Errorf("request past the tenant's cap: %d %q Retry-After %q, want 429 concurrency_limited with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
				}
			}
			limited := 0
			st.sink.mu.Lock()
			for _, rec := range st.sink.recs {
				if rec.Decision == audit.ConcurrencyLimited {
					limited++
					if rec.Limit != audit.LimitTenantInFlight {
						t.Errorf("audited limit %q, want tenant_in_flight", rec.Limit)
					}
					if !audit.ClientFolds(rec.Tenant, rec.Decision, rec.Limit, int64(rec.Status)) {
						t.Errorf("record %+v is not one audit.ClientFolds folds", rec)
					}
				}
			}
			st.sink.mu.Unlock()
			if limited != pool-tc.admits {
				t.Errorf("%d records of concurrency_limited, want %d", limited, pool-tc.admits)
			}
			m := scrape(t, st.srv)
			if want := `portcullis_limiter_denials_total{scope="tenant_in_flight"} ` + strconv.Itoa(pool-tc.admits) + "\n"; !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %q", want)
			}
			if want := "portcullis_tenant_max_in_flight " + strconv.Itoa(tc.admits) + "\n"; !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		})
	}
}
