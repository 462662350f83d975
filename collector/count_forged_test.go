package collector

import (
	"testing"
	"time"
)

// TestCountOnlyOnAggregatedRecords: a record's count is the sender's to
// write, and the sidecar sets it only on the denials it aggregates, which
// name no tenant, client or verified token (audit/emitter_aggregate.go).
// A sender bound to acme sent one allowed record of acme's client with
// count 2^32: tenants top ranked acme 100% of the period's requests with
// 4,294,967,296 of them, and the evidence pack and detection counted them
// the same, from one record, past any --sender-quota. A count on a record
// of another shape now counts one request; a folded refusal's still counts
// every request it stands for.
func TestCountOnlyOnAggregatedRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	recs := []StoredRecord{
		{Time: at, Tenant: "acme", Client: "acme-admin", Route: "/v1/admin", Status: 200, Decision: "allowed", Count: 1 << 32},
		{Time: at, Tenant: "acme", Client: "acme-admin", Route: "/v1/admin", Status: 429, Decision: "rate_limited", Count: 1 << 32},
		{Time: at, Status: 401, Decision: "unauthenticated", Count: 1 << 32, Issuer: "https://idp.example"},
		{Time: at, Tenant: "globex", Client: "globex-bi", Route: "/v1/reports", Status: 200, Decision: "allowed"},
		{Time: at, Tenant: "globex", Client: "globex-bi", Route: "/v1/reports", Status: 200, Decision: "allowed"},
		{Time: at, Status: 401, Decision: "unauthenticated", SourceIP: "203.0.113.7", Count: 50},
	}
	if err := st.AppendBatch(&Batch{ID: "b0", Sender: "token:sidecar-acme", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := TopTenants(dir, time.Time{}, time.Time{}, ByRequests, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, s := range rep.Tenants {
		got[s.Tenant] = s.Requests
	}
	if got["acme"] != 2 || got["globex"] != 2 || got[""] != 51 || rep.Requests != 55 || rep.Throttled != 1 {
		t.Errorf("requests by tenant %v (total %d, throttled %d); want acme 2, globex 2 and 51 without a tenant (the folded 50 and the record naming a verified token's issuer), 55 in all, 1 throttled: "+
			"a count counts only on a record the sidecar could have aggregated", got, rep.Requests, rep.Throttled)
	}
}
