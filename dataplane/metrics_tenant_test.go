package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/promtool"
	"github.com/portcullis/portcullis/policy"
	dto "github.com/prometheus/client_model/go"
)

// tenantStack is a stack whose policy adds tenants t0..t(n-1), each with
// one client holding read:users, and returns their API keys by index.
func tenantStack(t *testing.T, series, n int) (*stack, []string) {
	t.Helper()
	st := startStack(t, func(c *Config) { c.TenantSeries = series })
	doc := *loadExample(t).Doc
	doc.Tenants = append([]policy.TenantSpec(nil), doc.Tenants...)
	doc.Clients = append([]policy.ClientSpec(nil), doc.Clients...)
	keys := make([]string, n)
	var specs []policy.KeySpec
	for i := range n {
		tenant, client := fmt.Sprintf("t%d", i), fmt.Sprintf("t%d-app", i)
		doc.Tenants = append(doc.Tenants, policy.TenantSpec{ID: tenant})
		doc.Clients = append(doc.Clients, policy.ClientSpec{ID: client, Tenant: tenant, Scopes: []string{"read:users"}})
		k, spec := mustKey(t, client, time.Now().Add(-time.Hour), time.Time{})
		keys[i], specs = k, append(specs, spec)
	}
	swapWithKeys(t, st.store, &doc, specs...)
	return st, keys
}

// sumBy sums the samples of family name by the value of label.
func sumBy(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	sums := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		v := m.GetCounter().GetValue()
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				sums[l.GetValue()] += v
			}
		}
	}
	return sums
}

// With more tenants than --metrics-tenants, /metrics names exactly the top
// N tenants by traffic plus _other (and _none for requests without a
// tenant); the tenant series sum to the request totals by decision, the
// byte series to the bytes the audit records say were sent, and the page
// passes promtool check metrics.
func TestTenantMetricsBounded(t *testing.T) {
	const n, tenants = 3, 7
	st, keys := tenantStack(t, n, tenants)
	// Tenant ti sends 2i allowed requests and one refused for scope; acme
	// one request; one request has no credential.
	traffic := func() {
		for i, k := range keys {
			for j := range 2 * i {
				if got := do(t, st.addr, "GET", fmt.Sprintf("/v1/users/%d", j), key(k), "").status; got != 200 {
					t.Fatalf("t%d request %d: status %d", i, j, got)
				}
			}
			if got := do(t, st.addr, "GET", "/v1/reports/1", key(k), "").status; got != 403 {
				t.Fatalf("t%d report: status %d, want 403", i, got)
			}
		}
		do(t, st.addr, "GET", "/v1/users", nil, "")            // 401: no tenant
		do(t, st.addr, "GET", "/v1/users/1", key(hrisKey), "") // acme, below the top 3
	}
	check := func(wantSeries map[string]float64) {
		t.Helper()
		page := scrape(t, st.srv)
		fams := parseExposition(t, page)
		got := sumBy(fams, "portcullis_tenant_requests_total", "tenant")
		if len(got) != n+2 {
			t.Errorf("tenant series %v, want %d tenants, %s and %s", got, n, TenantOther, TenantNone)
		}
		for tenant, w := range wantSeries {
			if got[tenant] != w {
				t.Errorf("requests of tenant %q = %v, want %v", tenant, got[tenant], w)
			}
		}
		checkTenantSums(t, st, fams, n)
		promtool.CheckMetrics(t, []byte(page))
	}
	traffic()
	// The first scrape names the top 3, at 0: what they sent so far stays in _other.
	check(map[string]float64{"t6": 0, "t5": 0, "t4": 0, TenantNone: 1, TenantOther: 50})
	traffic()
	check(map[string]float64{"t6": 13, "t5": 11, "t4": 9, TenantNone: 2, TenantOther: 50 + 1 + 3 + 5 + 7 + 1})
}

// checkTenantSums checks that the tenant series of fams sum to the
// request totals by decision, and the byte series to the bytes the audit
// records of st say were sent.
func checkTenantSums(t *testing.T, st *stack, fams map[string]*dto.MetricFamily, n int) {
	t.Helper()
	byDecision := sumBy(fams, "portcullis_tenant_requests_total", "decision")
	totals := sumBy(fams, "portcullis_requests_total", "decision")
	for d, w := range totals {
		if byDecision[d] != w {
			t.Errorf("tenant series of decision %s sum to %v, portcullis_requests_total says %v", d, byDecision[d], w)
		}
	}
	if len(byDecision) != len(totals) {
		t.Errorf("decisions in tenant series %v, in totals %v", byDecision, totals)
	}
	bytes := sumBy(fams, "portcullis_tenant_response_bytes_total", "tenant")
	var sent float64
	st.sink.mu.Lock()
	for _, r := range st.sink.recs {
		sent += float64(r.BytesOut)
	}
	st.sink.mu.Unlock()
	if len(bytes) != n+2 {
		t.Errorf("byte series %v, want %d tenants, %s and %s", bytes, n, TenantOther, TenantNone)
	}
	var sum float64
	for _, v := range bytes {
		sum += v
	}
	if sum != sent || sent == 0 {
		t.Errorf("byte series %v sum to %v; the audit records sent %v", bytes, sum, sent)
	}
}

// The default names DefaultTenantSeries tenants, and a negative setting
// none: everything is summed in _other.
func TestTenantSeriesDefault(t *testing.T) {
	var c Config
	c.defaults()
	if c.TenantSeries != DefaultTenantSeries || DefaultTenantSeries != 50 {
		t.Errorf("default TenantSeries = %d, want 50", c.TenantSeries)
	}
	st, keys := tenantStack(t, -1, 2)
	do(t, st.addr, "GET", "/v1/users/1", key(keys[0]), "")
	got := sumBy(parseExposition(t, scrape(t, st.srv)), "portcullis_tenant_requests_total", "tenant")
	if len(got) != 1 || got[TenantOther] != 1 {
		t.Errorf("tenant series with TenantSeries -1: %v, want only %s 1", got, TenantOther)
	}
}

// Every series only grows while tenants enter and leave the named set, the
// series always sum to the totals, a tenant that starts a flood is named
// within a few scrapes however long the others' history, and a tenant near
// the cut is not swapped out by a newcomer only slightly ahead.
func TestTenantRankingMonotonic(t *testing.T) {
	m := &metrics{tenantSeries: 1}
	tb := &m.tenants
	cells := map[string]*tenantCell{}
	for _, id := range []string{"old", "mid", "new"} {
		cells[id] = tb.cell(id)
	}
	add := func(id string, n uint64) { cells[id].requests[0].Add(n) }

	now := time.Unix(1_800_000_000, 0)
	prev := map[string]uint64{}
	var total uint64
	scrapeAt := func(at time.Time) map[string]uint64 {
		t.Helper()
		tb.mu.Lock()
		tb.rankLocked(m.tenantSeries, at)
		tb.mu.Unlock()
		got := map[string]uint64{}
		var sum uint64
		for _, e := range tb.entries {
			if e.named {
				got[e.id] = e.now[0] - e.base[0]
				got[TenantOther] += e.base[0]
			} else {
				got[TenantOther] += e.now[0]
			}
		}
		for k, v := range got {
			sum += v
			if p, ok := prev[k]; ok && v < p { // no tenant here leaves and comes back
				t.Errorf("at %v series %s fell from %d to %d", at, k, p, v)
			}
		}
		if sum != total {
			t.Errorf("at %v series sum to %d, total %d", at, sum, total)
		}
		prev = got
		return got
	}
	named := func() string {
		for _, e := range tb.namedLocked() {
			return e.id
		}
		return ""
	}

	add("old", 100000)
	total += 100000
	scrapeAt(now)
	if named() != "old" {
		t.Fatalf("named %q, want old", named())
	}
	// An hour later "new" floods: it is named within a minute of scrapes.
	flipped := false
	for s := 1; s <= 4 && !flipped; s++ {
		add("new", 2000)
		add("old", 10)
		total += 2010
		scrapeAt(now.Add(time.Hour + time.Duration(s)*15*time.Second))
		flipped = named() == "new"
	}
	if !flipped {
		t.Fatalf("a flooding tenant is not named after 4 scrapes; named %q", named())
	}
	// "mid" runs just ahead of "new" for a while: not enough to take its place.
	at := now.Add(2 * time.Hour)
	for s := range 5 {
		add("mid", 1100)
		add("new", 1000)
		total += 2100
		scrapeAt(at.Add(time.Duration(s) * 15 * time.Second))
		if named() != "new" {
			t.Fatalf("scrape %d: a newcomer 10%% ahead took the series; named %q", s, named())
		}
	}
	// Far ahead, it does.
	add("mid", 100000)
	total += 100000
	scrapeAt(at.Add(time.Minute + 15*time.Second))
	if named() != "mid" {
		t.Errorf("a newcomer far ahead is not named; named %q", named())
	}
}

// Past maxTenantCells tenants share one cell, summed in _other, so a
// policy with a huge tenant list cannot grow the table without bound.
func TestTenantCellsBounded(t *testing.T) {
	m := &metrics{tenantSeries: 1}
	for i := range maxTenantCells {
		m.tenants.cell(fmt.Sprint("t", i))
	}
	over := m.tenants.cell("one-too-many")
	if over != &m.tenants.overflow || len(m.tenants.entries) != maxTenantCells {
		t.Fatalf("%d cells, the next tenant got its own: want %d and the shared overflow cell", len(m.tenants.entries), maxTenantCells)
	}
	over.requests[0].Add(2)
	m.tenants.byID["t7"].cell.requests[0].Add(5)
	page := string(m.appendTenantRequests(nil))
	if want := "portcullis_tenant_requests_total{tenant=\"t7\",decision=\"allowed\"} 0\nportcullis_tenant_requests_total{tenant=\"_other\",decision=\"allowed\"} 7\n"; page != want {
		t.Errorf("page\n%s\nwant\n%s", page, want)
	}
}
