package dataplane

import (
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// startGlobal starts a stack in global-limit mode on the example policy
// changed by mutate.
func startGlobal(t *testing.T, mutate func(*policy.Document)) *stack {
	t.Helper()
	st := startStack(t, func(c *Config) { c.GlobalLimits = true })
	swapDoc(t, st.store, mutate)
	return st
}

// admitted sends n requests one after another and counts the 200s.
func admitted(t *testing.T, st *stack, n int, path, k string) int {
	t.Helper()
	ok := 0
	for range n {
		if do(t, st.addr, "GET", path, key(k), "").status == 200 {
			ok++
		}
	}
	return ok
}

// A tenant's share scales its limit: at a share of 1/4, a tenant limit of
// 60/min burst 20 admits a burst of 5 (issue 17). Before any share is
// pushed the whole limit applies.
func TestSharesScaleTenantLimit(t *testing.T) {
	st := startGlobal(t, func(d *policy.Document) {
		d.Tenants = append([]policy.TenantSpec(nil), d.Tenants...)
		d.Tenants[0].Limit = &policy.LimitSpec{Rate: "60/min", Burst: 20}
		d.Clients[0].Limit = nil // acme-hris: only the tenant limit
	})
	st.srv.SetShares(Shares{Tenants: map[string]float64{"acme": 0.25}, Default: 0.5})
	if got := admitted(t, st, 20, "/v1/users", hrisKey); got < 5 || got > 6 {
		t.Errorf("acme at a share of 0.25 admitted %d of 20, want the burst of 5 (6 if a token refilled)", got)
	}
	// globex is not in the map: the default share of its 200/s burst 400
	// is 200, far above 20 requests.
	if got := admitted(t, st, 20, "/v1/reports/1", globexKey); got != 20 {
		t.Errorf("globex admitted %d of 20, want 20", got)
	}
	var tenants, clients = map[string]uint64{}, map[string]uint64{}
	st.srv.Demand(func(tenant bool, id string, n uint64) {
		if tenant {
			tenants[id] = n
		} else {
			clients[id] = n
		}
	})
	if tenants["acme"] != 20 || tenants["globex"] != 20 {
		t.Errorf("tenant demand = %v, want acme and globex 20 each (denied requests count)", tenants)
	}
	if len(clients) != 0 {
		t.Errorf("client demand = %v, want none: no global client sent", clients)
	}
}

// A client whose limit.scope is global gets its share; a local client
// keeps its whole limit whatever the shares.
func TestSharesScaleGlobalClient(t *testing.T) {
	st := startGlobal(t, func(d *policy.Document) {
		d.Clients[0].Limit = &policy.LimitSpec{Rate: "60/min", Burst: 10}                  // acme-hris, local
		d.Clients[1].Limit = &policy.LimitSpec{Rate: "60/min", Burst: 10, Scope: "global"} // acme-admin
	})
	if !st.store.Load().Clients["acme-admin"].Global {
		t.Fatal("acme-admin is not global")
	}
	st.srv.SetShares(Shares{Tenants: map[string]float64{"acme": 1}, Clients: map[string]float64{"acme-admin": 0.3}, Default: 0.3})
	if got := admitted(t, st, 10, "/v1/users", hrisKey); got != 10 {
		t.Errorf("local client admitted %d of 10, want its whole burst of 10", got)
	}
	ok := 0
	for range 10 {
		if do(t, st.addr, "PUT", "/v1/admin/settings", key(adminKey), "{}").status == 200 {
			ok++
		}
	}
	if ok < 3 || ok > 4 {
		t.Errorf("global client at a share of 0.3 admitted %d of 10, want its burst of 3 (4 if a token refilled)", ok)
	}
	var clients = map[string]uint64{}
	st.srv.Demand(func(tenant bool, id string, n uint64) {
		if !tenant {
			clients[id] = n
		}
	})
	if clients["acme-admin"] != 10 || len(clients) != 1 {
		t.Errorf("client demand = %v, want acme-admin 10 and no local client", clients)
	}
}

// The concurrency cap of a class is shared too: the bulk class's cap of 2
// at a share of 1/2 admits one export at a time. A refusal of the full
// queue carries Retry-After guidance: the class's max_wait (2s), rounded
// up (issue 17).
func TestSharesScaleConcurrencyCap(t *testing.T) {
	st := startGlobal(t, func(d *policy.Document) {
		d.Classes[1].Limit = &policy.LimitSpec{Rate: "100/s"}
		d.Clients[1].Limit = nil
	})
	st.up.delay = 2500 * time.Millisecond // past max_wait: the queued requests time out
	st.srv.SetShares(Shares{Tenants: map[string]float64{"acme": 0.5}, Default: 0.5})
	var wg sync.WaitGroup
	replies := make([]reply, 4)
	for i := range replies {
		wg.Go(func() { replies[i] = do(t, st.addr, "POST", "/v1/exports", key(adminKey), "{}") })
	}
	wg.Wait()
	ok := 0
	for _, r := range replies {
		switch {
		case r.status == 200:
			ok++
		case r.status != 429 || r.errorBody(t).Error != "concurrency_limited":
			t.Errorf("reply %d %q, want 200 or 429 concurrency_limited", r.status, r.body)
		case r.header.Get("Retry-After") != "2":
			t.Errorf("Retry-After = %q, want 2 (max_wait 2s)", r.header.Get("Retry-After"))
		}
	}
	if ok != 1 {
		t.Errorf("%d of 4 concurrent exports admitted, want 1 (cap 2 at a share of 1/2)", ok)
	}
}

// shareLimit keeps the rate exact and the bursts summing to the policy's.
func TestShareLimit(t *testing.T) {
	r := policy.Rate{Events: 100, Per: time.Second, Burst: 20}
	for _, tt := range []struct {
		f           int64
		events      int64
		per         time.Duration
		burst       int64
		inflight    int
		capInFlight int
	}{
		{1000, 100, time.Second, 20, 4, 4},
		{700, 70000, 1000 * time.Second, 14, 4, 3},
		{1, 100, 1000 * time.Second, 1, 4, 1},
	} {
		l := shareLimit(r, tt.f, 0)
		if got := float64(l.Events()) / l.Per().Seconds(); got != float64(tt.events)/tt.per.Seconds() {
			t.Errorf("share %d: rate %v/s, want %v/s", tt.f, got, float64(tt.events)/tt.per.Seconds())
		}
		if l.Burst() != tt.burst {
			t.Errorf("share %d: burst %d, want %d", tt.f, l.Burst(), tt.burst)
		}
		if got := shareCap(tt.inflight, tt.f); got != tt.capInFlight {
			t.Errorf("share %d: cap %d, want %d", tt.f, got, tt.capInFlight)
		}
	}
}

// globalMode turns m's server to global limits with shares pushed, as the
// sidecar does in etcd mode.
func globalMode(m *inmem) {
	m.srv.cfg.GlobalLimits = true
	m.srv.prepare(m.srv.store.Load())
	m.srv.SetShares(Shares{Tenants: map[string]float64{"acme": 0.7}, Clients: map[string]float64{"acme-admin": 0.5}, Default: 0.2})
}
