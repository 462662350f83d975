package collector

import (
	"testing"
)

// TestClientCountOnlyWithItsLimit: the data plane names the limit that
// refused a client (dataplane/limit.go): a token bucket (key, tenant,
// class) on a rate_limited record, an in-flight cap (concurrency,
// tenant_in_flight) on a concurrency_limited one, and the sidecar folds
// only those (audit.ClientFolds). A sender bound to acme sent rate_limited
// records of acme's client naming an in-flight cap, a made-up limit and
// none, and a concurrency_limited one naming the client's bucket, each
// with the largest count believed: tenants top counted four times that
// many refusals of acme by limits that cannot have refused them (throttled by "bogus", by
// concurrency on rate_limited records). Such a count now counts one
// request and is counted not believed.
func TestClientCountOnlyWithItsLimit(t *testing.T) {
	t.Parallel()
	at := countsAt
	refusal := func(decision, limit string, count int64) StoredRecord {
		return StoredRecord{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: decision, Limit: limit, Count: count}
	}
	recs := []StoredRecord{
		refusal("rate_limited", "concurrency", MaxRequestsPerClientRecord),
		refusal("rate_limited", "bogus", MaxRequestsPerClientRecord),
		refusal("rate_limited", "", MaxRequestsPerClientRecord),
		refusal("concurrency_limited", "key", MaxRequestsPerClientRecord),
		refusal("rate_limited", "class", 300),
		refusal("concurrency_limited", "tenant_in_flight", 400),
	}
	n, rep := storeCounts(t, recs)
	if n != 4 {
		t.Errorf("CountsNotBelieved = %d, want 4 (the refusals naming a limit their decision cannot have)", n)
	}
	if want := int64(4 + 300 + 400); rep.Requests != want || rep.Throttled != want {
		t.Errorf("requests %d, throttled %d; want %d: a client's count is believed only with a limit its decision can have", rep.Requests, rep.Throttled, want)
	}
}
