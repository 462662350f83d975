package collector

import (
	"testing"
)

// TestClientCountOnlyOnA429: the sidecar answers a client's own limit
// refusal (rate_limited, concurrency_limited) 429 and folds only such
// records (audit/emitter_aggregate.go). A sender bound to acme sent one
// rate_limited record of acme's client with status 200 and count
// 1,000,000: tenants top counted a million requests of acme that were not
// throttled (none of them 429), a million answers with status 200 in a
// client's assessment, from one record of a shape the sidecar never
// writes. Such a count now counts one request and is counted not
// believed.
func TestClientCountOnlyOnA429(t *testing.T) {
	t.Parallel()
	at := countsAt
	recs := []StoredRecord{
		{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 200, Decision: "rate_limited", Limit: "key", Count: MaxRequestsPerClientRecord},
		{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 502, Decision: "concurrency_limited", Limit: "concurrency", Count: MaxRequestsPerClientRecord},
		{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", Count: 700},
	}
	n, rep := storeCounts(t, recs)
	if n != 2 {
		t.Errorf("CountsNotBelieved = %d, want 2 (the limit refusals answered 200 and 502)", n)
	}
	if rep.Requests != 1+1+700 || rep.Throttled != 700 {
		t.Errorf("requests %d, throttled %d; want %d and 700: a client's count is believed only on a 429, as the sidecar answers its limit refusals", rep.Requests, rep.Throttled, 1+1+700)
	}
}
