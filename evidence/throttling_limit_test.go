package evidence

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The throttling CSV tells a tenant throttled by its own clients' limits
// from one throttled as a whole: its 429s are counted per day, tenant and
// the limit that refused them, and each sampled 429 names its limit, in a
// last column named limit. A record without one (a sidecar from before
// the field) is counted and sampled with an empty limit, and a name no
// sidecar writes as "unknown". Before, a 429 was a 429.
func TestThrottlingSampleNamesLimit(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)
	var recs []collector.StoredRecord
	add := func(tenant, client string, status int64, decision, limit string, n int) {
		for range n {
			recs = append(recs, collector.StoredRecord{Time: day.Add(time.Duration(len(recs)) * time.Second), Tenant: tenant, Client: client,
				Method: "GET", Route: "/v1/users", Status: status, Decision: decision, Limit: limit, RequestID: "r-" + limit})
		}
	}
	add("acme", "acme-hris", 429, "rate_limited", "key", 3)
	add("acme", "acme-admin", 429, "rate_limited", "tenant", 2)
	add("acme", "acme-admin", 429, "concurrency_limited", "concurrency", 1)
	add("acme", "acme-crm", 429, "concurrency_limited", "tenant_in_flight", 1) // the tenant's in-flight cap: a sidecar's name
	add("globex", "globex-bi", 429, "rate_limited", "class", 1)
	add("globex", "globex-bi", 429, "rate_limited", "", 1)        // a sidecar from before the field
	add("globex", "globex-bi", 429, "rate_limited", "bogus\n", 1) // no sidecar's name
	add("globex", "", 401, "unauthenticated", "", 1)
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, "APIRateLimits-ThrottlingSample-2026-Q2.csv"))
	head := rows[0]
	if head[len(head)-1] != "limit" || head[9] != "decision" || head[12] != "share_percent" {
		t.Fatalf("header %q: want the columns as before and limit last", head)
	}
	var daily, samples []string
	for _, r := range rows[1:] {
		if len(r) != len(head) {
			t.Errorf("row %q has %d cells, the header %d", r, len(r), len(head))
			continue
		}
		switch r[0] {
		case "daily_count":
			if r[2] != allTenants { // a quiet day (TestThrottlingSampleHasQuietDays)
				daily = append(daily, r[2]+" "+r[3]+" "+r[13]+"="+r[4])
			}
		case "sample_429":
			samples = append(samples, r[9]+"/"+r[13])
		case "tenant_share":
			if r[13] != "" {
				t.Errorf("tenant_share row %q names a limit", r)
			}
		}
	}
	want := []string{"acme 429 concurrency=1", "acme 429 key=3", "acme 429 tenant=2", "acme 429 tenant_in_flight=1",
		"globex 401 =1", "globex 429 =1", "globex 429 class=1", "globex 429 unknown=1"}
	if !slices.Equal(daily, want) {
		t.Errorf("daily counts (tenant status limit=count):\n%q\nwant\n%q", daily, want)
	}
	wantSamples := []string{"rate_limited/key", "rate_limited/key", "rate_limited/key", "rate_limited/tenant", "rate_limited/tenant",
		"concurrency_limited/concurrency", "concurrency_limited/tenant_in_flight", "rate_limited/class", "rate_limited/", "rate_limited/unknown"}
	if !slices.Equal(samples, wantSamples) {
		t.Errorf("samples (decision/limit):\n%q\nwant\n%q", samples, wantSamples)
	}
}
