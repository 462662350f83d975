package collector

import (
	"testing"
)

// TestCountOnlyOnAggregatedRecords: a record's count is the sender's to
// write, and the sidecar sets it only on the denials it aggregates, which
// name no tenant, client or verified token (audit/emitter_aggregate.go).
// A sender bound to acme sent one allowed record of acme's client with
// count 2^32: tenants top ranked acme 100% of the period's requests with
// 4,294,967,296 of them, and the evidence pack and detection counted them
// the same, from one record, past any --sender-quota. A count on a record
// of another shape now counts one request; a folded refusal's still counts
// every request it stands for. The sidecar also folds a verified client's
// own limit refusals (rate_limited, concurrency_limited; audit
// TestClientRateLimitFloodFolded): their count is believed up to
// MaxRequestsPerClientRecord, a group of one second of one sidecar, and a
// count past it counts that many (TestFoldCountHeldAtTheSidecarsBound);
// intake counts every count not believed (CountsNotBelieved).
func TestCountOnlyOnAggregatedRecords(t *testing.T) {
	t.Parallel()
	at := countsAt
	recs := []StoredRecord{
		{Time: at, Tenant: "acme", Client: "acme-admin", Route: "/v1/admin", Status: 200, Decision: "allowed", Count: 1 << 32},
		{Time: at, Tenant: "acme", Client: "acme-admin", Route: "/v1/admin", Status: 429, Decision: "rate_limited", Limit: "key", Count: 1 << 32},
		{Time: at, Tenant: "acme", Client: "acme-admin", Route: "/v1/admin", Status: 429, Decision: "rate_limited", Limit: "key", Count: MaxRequestsPerClientRecord + 1},
		{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", Count: 700},
		{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "concurrency_limited", Limit: "concurrency", Count: MaxRequestsPerClientRecord},
		{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 403, Decision: "forbidden", Count: 40},
		{Time: at, Status: 401, Decision: "unauthenticated", Count: 1 << 32, Issuer: "https://idp.example"},
		{Time: at, Tenant: "globex", Client: "globex-bi", Route: "/v1/reports", Status: 200, Decision: "allowed"},
		{Time: at, Tenant: "globex", Client: "globex-bi", Route: "/v1/reports", Status: 200, Decision: "allowed"},
		{Time: at, Status: 401, Decision: "unauthenticated", SourceIP: "203.0.113.7", Count: 50},
	}
	n, rep := storeCounts(t, recs)
	if n != 5 {
		t.Errorf("CountsNotBelieved = %d, want 5 (allowed, a client's forbidden, two limit refusals past the ceiling, a verified token's unauthenticated)", n)
	}
	got := map[string]int64{}
	for _, s := range rep.Tenants {
		got[s.Tenant] = s.Requests
	}
	const acme = 1 + 3*MaxRequestsPerClientRecord + 700 + 1
	const throttled = 3*MaxRequestsPerClientRecord + 700
	if got["acme"] != acme || got["globex"] != 2 || got[""] != 51 || rep.Requests != acme+53 || rep.Throttled != throttled {
		t.Errorf("requests by tenant %v (total %d, throttled %d); want acme %d, globex 2 and 51 without a tenant (the folded 50 and the record naming a verified token's issuer), %d in all, %d throttled: "+
			"a count counts only on a record the sidecar could have aggregated, and on a client's limit refusal up to %d",
			got, rep.Requests, rep.Throttled, acme, acme+53, throttled, MaxRequestsPerClientRecord)
	}
}
