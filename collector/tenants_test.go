package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// tenantsStore writes a real store in dir: over two batches (two
// segments), acme sends 6 requests (2 throttled, by its client's limit and
// by its tenant's, 600 bytes), globex 3 (3 throttled: by its class's
// limit, its concurrency cap and a record naming no limit, 0 bytes),
// initech 1 (1000 bytes), one aggregated record stands for 4 denials
// without a tenant, and acme has 5 more requests an hour before the
// period.
func tenantsStore(t *testing.T, dir string, at time.Time) {
	t.Helper()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t), SegmentMaxBytes: 1500})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(tenant string, status int64, bytes int64, at time.Time) StoredRecord {
		d := "allowed"
		if status == 429 {
			d = "rate_limited"
		}
		return StoredRecord{Time: at, Tenant: tenant, Client: tenant + "-app", Method: "GET", Route: "/v1/users", Status: status, Decision: d, BytesOut: bytes}
	}
	var first, second []StoredRecord
	for i := range 4 {
		first = append(first, rec("acme", 200, 150, at.Add(time.Duration(i)*time.Second)))
	}
	limited := func(tenant, limit string, at time.Time) StoredRecord {
		r := rec(tenant, 429, 0, at)
		r.Limit = limit
		return r
	}
	first = append(first, limited("acme", "key", at), limited("acme", "tenant", at), rec("initech", 200, 1000, at))
	for _, l := range []string{"class", "concurrency", ""} { // "": a sidecar from before the field
		second = append(second, limited("globex", l, at.Add(time.Minute)))
	}
	second = append(second, StoredRecord{Time: at, Status: 401, Decision: "unauthenticated", Count: 4})
	for range 5 {
		second = append(second, rec("acme", 200, 100, at.Add(-time.Hour)))
	}
	for i, recs := range [][]StoredRecord{first, second} {
		if err := st.AppendBatch(&Batch{ID: fmt.Sprint("b", i), Sender: "token:sidecar", Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TopTenants ranks the tenants of a period by requests, throttled
// requests or bytes, with shares of the period's totals; records outside
// the period do not count, an aggregated record counts for its requests.
func TestTopTenants(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tenantsStore(t, dir, at)
	from, to := at.Add(-time.Minute), at.Add(time.Hour)
	rep, err := TopTenants(dir, from, to, ByRequests, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 14 || rep.Throttled != 5 || rep.BytesOut != 1600 || rep.Count != 4 {
		t.Errorf("totals: %d requests, %d throttled, %d bytes, %d tenants; want 14, 5, 1600, 4", rep.Requests, rep.Throttled, rep.BytesOut, rep.Count)
	}
	if want := (ThrottledBy{Key: 1, Tenant: 1, Class: 1, Concurrency: 1, Unnamed: 1}); rep.ThrottledBy != want {
		t.Errorf("throttled by limit, in total: %+v, want %+v", rep.ThrottledBy, want)
	}
	want := []TenantShare{
		{Tenant: "acme", Requests: 6, RequestShare: 600.0 / 14, Throttled: 2, ThrottledShare: 40, ThrottledBy: ThrottledBy{Key: 1, Tenant: 1}, BytesOut: 600, BytesShare: 37.5, Unverified: 6},
		{Tenant: "", Requests: 4, RequestShare: 400.0 / 14, Unverified: 4},
		{Tenant: "globex", Requests: 3, RequestShare: 300.0 / 14, Throttled: 3, ThrottledShare: 60, ThrottledBy: ThrottledBy{Class: 1, Concurrency: 1, Unnamed: 1}, Unverified: 3},
		{Tenant: "initech", Requests: 1, RequestShare: 100.0 / 14, BytesOut: 1000, BytesShare: 62.5, Unverified: 1},
	} // no key: every request counts unverified
	if fmt.Sprint(rep.Tenants) != fmt.Sprint(want) {
		t.Errorf("by requests:\n got %v\nwant %v", rep.Tenants, want)
	}
	order := func(by string, limit int) string {
		t.Helper()
		rep, err := TopTenants(dir, from, to, by, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range rep.Tenants {
			ids = append(ids, s.Tenant)
		}
		return strings.Join(ids, ",")
	}
	for _, c := range []struct {
		by    string
		limit int
		want  string
	}{
		{ByThrottled, 0, "globex,acme,,initech"},
		{ByBytes, 0, "initech,acme,,globex"},
		{ByRequests, 2, "acme,"},
	} {
		if got := order(c.by, c.limit); got != c.want {
			t.Errorf("by %s, limit %d: %q, want %q", c.by, c.limit, got, c.want)
		}
	}
	// The whole store: acme's earlier requests count too.
	all, err := TopTenants(dir, time.Time{}, time.Time{}, ByRequests, 1)
	if err != nil {
		t.Fatal(err)
	}
	if all.Requests != 19 || all.Tenants[0].Tenant != "acme" || all.Tenants[0].Requests != 11 || all.Count != 4 {
		t.Errorf("whole store: %d requests, top %+v of %d; want 19, acme with 11 of 4", all.Requests, all.Tenants[0], all.Count)
	}
	if _, err := TopTenants(dir, from, to, "latency", 0); err == nil || !strings.Contains(err.Error(), `"latency"`) {
		t.Errorf("unknown order: %v", err)
	}
}

// The table lists tenants with their shares and ends with the totals;
// JSON carries the same numbers.
func TestTenantReportOutput(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tenantsStore(t, dir, at)
	rep, err := TopTenants(dir, at.Add(-time.Minute), at.Add(time.Hour), ByThrottled, 0)
	if err != nil {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tab.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("table has %d lines, want header, 4 tenants, totals:\n%s", len(lines), tab.String())
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "globex 3 21.4% 3 60.0% 0 0.0% 3 class=1,concurrency=1,unnamed=1" {
		t.Errorf("first row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "acme" || f[len(f)-1] != "key=1,tenant=1" {
		t.Errorf("acme's row %q, want its 429s by its client's limit and its tenant's", lines[2])
	}
	if f := strings.Fields(lines[3]); f[0] != "-" || f[1] != "4" || f[len(f)-1] != "-" {
		t.Errorf("row of requests without a tenant %q, want - with 4", lines[3])
	}
	if want := "4 tenants (4 shown, by throttled; - is requests without a tenant), 14 requests, 5 throttled, 1600 bytes out, 14 unverified, from 2026-12-01T09:59:00Z to 2026-12-01T11:00:00Z (exclusive)"; lines[5] != want {
		t.Errorf("totals line\n got %q\nwant %q", lines[5], want)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back TenantReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(*rep) {
		t.Errorf("JSON round trip:\n got %+v\nwant %+v", back, *rep)
	}
}

// A sender sets each record's BytesOut, and the collector stores it as
// sent: two absurd values (math.MaxInt64) wrapped a tenant's bytes and the
// period's total negative, and a negative one took a tenant's egress off
// its count, so tenants top --by bytes ranked the noisy tenant last and
// showed the others' shares against a negative total. Only bytes sent
// count now, and the sums hold at math.MaxInt64, as the alert rules'
// windows do (alert.satAdd); a record's count is capped as detection
// caps it (MaxRequestsPerRecord), so one record of count math.MaxInt64
// cannot wrap the requests either.
func TestTopTenantsBytesSaturate(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(tenant string, bytes int64) StoredRecord {
		return StoredRecord{Time: at, Tenant: tenant, Client: tenant + "-app", Method: "GET", Route: "/v1/users", Status: 200, Decision: "allowed", BytesOut: bytes}
	}
	recs := []StoredRecord{
		rec("noisy", math.MaxInt64), rec("noisy", math.MaxInt64),
		rec("acme", 1000), rec("acme", -1<<62), rec("globex", 500),
		// A folded refusal (no tenant, client or verified token): the
		// only shape whose count is taken (StoredRecord.Requests).
		{Time: at, Status: 429, Decision: "token_failures_limited", Count: math.MaxInt64},
	}
	if err := st.AppendBatch(&Batch{ID: "b0", Sender: "token:sidecar", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := TopTenants(dir, time.Time{}, time.Time{}, ByBytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range rep.Tenants {
		got = append(got, fmt.Sprintf("%s=%d(%.1f%%)", s.Tenant, s.BytesOut, s.BytesShare))
		if s.BytesOut < 0 || s.BytesShare < 0 || s.BytesShare > 100 {
			t.Errorf("tenant %s: %d bytes, share %.1f%%; want neither negative nor above 100%%", s.Tenant, s.BytesOut, s.BytesShare)
		}
	}
	if want := int64(MaxRequestsPerRecord) + 5; rep.Requests != want || rep.Throttled != MaxRequestsPerRecord {
		t.Errorf("%d requests, %d throttled; want %d and %d: a record stands for at most the requests an audit record counts", rep.Requests, rep.Throttled, want, MaxRequestsPerRecord)
	}
	if rep.BytesOut != math.MaxInt64 {
		t.Errorf("total bytes %d, want it held at math.MaxInt64", rep.BytesOut)
	}
	if want := "noisy,acme,globex,"; len(rep.Tenants) != 4 || rep.Tenants[0].Tenant+","+rep.Tenants[1].Tenant+","+rep.Tenants[2].Tenant+","+rep.Tenants[3].Tenant != want {
		t.Errorf("by bytes: %v, want the order %s", got, want)
	}
	if len(rep.Tenants) == 4 && rep.Tenants[1].BytesOut != 1000 {
		t.Errorf("acme's bytes %d, want the 1000 it was sent (a negative record takes nothing off)", rep.Tenants[1].BytesOut)
	}
}

// A refusal by a tenant's default in-flight cap (the sidecar's
// --tenant-max-in-flight, limit tenant_in_flight) is counted by that name,
// not as unnamed.
func TestThrottledByTenantInFlight(t *testing.T) {
	var tb ThrottledBy
	tb.add("tenant_in_flight", 2)
	if want := (ThrottledBy{TenantInFlight: 2}); tb != want {
		t.Errorf("got %+v, want %+v", tb, want)
	}
	if got, want := tb.String(), "tenant_in_flight=2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
