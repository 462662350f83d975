package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// lastRefused returns the last audit record of a 429, the request a limit
// refused.
func (m *memSink) lastRefused(t testing.TB) audit.Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.recs) - 1; i >= 0; i-- {
		if m.recs[i].Status == 429 {
			return m.recs[i]
		}
	}
	t.Fatal("no audit record of a 429")
	return audit.Record{}
}

// checkRefusedBy checks that the record r of a refused request names the
// limit want, in the record and in both its encodings, beside its
// decision d.
func checkRefusedBy(t *testing.T, r audit.Record, d audit.Decision, want audit.Limit, name string) {
	t.Helper()
	if r.Decision != d || r.Limit != want {
		t.Errorf("record of the refusal: decision %s, limit %q; want %s, limit %q", r.Decision, r.Limit, d, want)
	}
	// The emitter folds such records, and the collector believes their
	// counts, by this rule: a refusal it misses is counted one request.
	if !audit.ClientFolds(r.Tenant, r.Decision, r.Limit, int64(r.Status)) {
		t.Errorf("record of the refusal (tenant %q, decision %s, limit %q, status %d) is not one audit.ClientFolds folds", r.Tenant, r.Decision, r.Limit, r.Status)
	}
	if js := string(r.AppendJSON(nil)); !strings.Contains(js, `"decision":"`+d.String()+`","limit":"`+name+`"`) {
		t.Errorf("record JSON %s lacks \"limit\":%q after its decision", js, name)
	}
	batch := audit.EncodeBatch(nil, audit.Resource{}, "b-1", r)
	if !strings.Contains(string(batch), audit.AttrLimit) || !strings.Contains(string(batch), name) {
		t.Errorf("OTLP batch of the record lacks %s = %q", audit.AttrLimit, name)
	}
}

// A record of a request a token bucket refused names the bucket: the
// client's own (key), its tenant's (tenant) or its tenant+class's
// (class), as the scope label of portcullis_limiter_denials_total does,
// so an auditor can tell a client throttled by its own limit from a
// tenant throttled as a whole. Before, every one said only rate_limited.
func TestRefusalRecordNamesRateLimit(t *testing.T) {
	cases := []struct {
		name   string
		limit  audit.Limit
		mutate func(d *policy.Document)
	}{
		{"key", audit.LimitKey, nil}, // acme-hris: burst 10, under its tenant's 400 and standard's 200
		{"tenant", audit.LimitTenant, func(d *policy.Document) {
			d.Tenants = append([]policy.TenantSpec(nil), d.Tenants...)
			for i := range d.Tenants {
				if d.Tenants[i].ID == "acme" {
					d.Tenants[i].Limit = &policy.LimitSpec{Rate: "1/min", Burst: 3}
				}
			}
		}},
		{"class", audit.LimitClass, func(d *policy.Document) {
			for i := range d.Classes {
				if d.Classes[i].Name == "standard" {
					d.Classes[i].Limit = &policy.LimitSpec{Rate: "1/min", Burst: 3}
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := startStack(t, nil)
			if c.mutate != nil {
				swapDoc(t, st.store, c.mutate)
			}
			var last reply
			for range 30 {
				if last = do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); last.status == 429 {
					break
				}
			}
			if last.status != 429 {
				t.Fatalf("no 429 after 30 requests")
			}
			checkRefusedBy(t, st.sink.lastRefused(t), audit.RateLimited, c.limit, c.name)
			if got := st.sink.last(t); got.Limit != c.limit {
				t.Errorf("last record's limit %q, want %q", got.Limit, c.limit)
			}
			if m := scrape(t, st.srv); !strings.Contains(m, `portcullis_limiter_denials_total{scope="`+c.name+`"} 1`) {
				t.Errorf("the metric does not count the denial under scope %q", c.name)
			}
		})
	}
}

// A record of a request the concurrency cap refused names it
// (concurrency), whether the class's queue was full or the request waited
// in it past max_wait; an admitted request's record names no limit.
func TestRefusalRecordNamesConcurrencyCap(t *testing.T) {
	cases := []struct {
		name string
		spec policy.ConcurrencySpec
	}{
		{"queue full", policy.ConcurrencySpec{Max: 1}},                            // no queue: refused at once
		{"wait over", policy.ConcurrencySpec{Max: 1, Queue: 1, MaxWait: "100ms"}}, // queued, then refused
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up, arrived, release := startHeldUpstream(t)
			st := startStack(t, func(cfg *Config) { cfg.Upstream = up })
			swapDoc(t, st.store, func(d *policy.Document) {
				for i := range d.Classes {
					if d.Classes[i].Name == "bulk" {
						d.Classes[i].Concurrency = &c.spec
					}
				}
			})
			held := make(chan reply, 1)
			go func() { held <- do(t, st.addr, "POST", "/v1/exports", key(adminKey), "") }()
			select {
			case <-arrived: // acme's one bulk slot is taken
			case <-time.After(10 * time.Second):
				t.Fatal("the first export never reached the upstream")
			}
			r := do(t, st.addr, "POST", "/v1/exports", key(adminKey), "")
			close(release)
			if first := <-held; first.status != 200 {
				t.Errorf("the export holding the slot: %d, want 200", first.status)
			}
			if code := r.errorBody(t).Error; r.status != 429 || code != "concurrency_limited" {
				t.Fatalf("second export: %d %s, want 429 concurrency_limited", r.status, code)
			}
			checkRefusedBy(t, st.sink.lastRefused(t), audit.ConcurrencyLimited, audit.LimitConcurrency, "concurrency")
			if ok := st.sink.last(t); ok.Status != 200 || ok.Limit != audit.NoLimit {
				t.Errorf("record of the admitted export: status %d, limit %q; want 200 and none", ok.Status, ok.Limit)
			}
		})
	}
}
