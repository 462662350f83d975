package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAssessForeignClientCountNotBelieved: the collector believes a count
// up to collector.MaxRequestsPerClientRecord on a verified client's limit refusal (the sidecar folds
// them, audit TestClientRateLimitFloodFolded), and a sender bound to acme
// may store records of acme and of no tenant. It stored two rate_limited
// records naming globex-bi, globex's client, one of no tenant and one of
// acme, each of the largest count believed: incident assess of globex-bi counted
// twice that many refusals of it, a sidecar of acme writing globex's client's
// record. The sidecar names a client's tenant on every record naming the
// client, and only its own: such a record counts one request, in the
// assessment as in tenants top.
func TestAssessForeignClientCountNotBelieved(t *testing.T) {
	t.Parallel()
	at := time.Now().UTC().Add(-time.Minute)
	refused := func(tenant, client string) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: tenant, Client: client, Method: "GET", Route: "/v1/reports",
			Status: 429, Decision: "rate_limited", Limit: "key", SourceIP: "198.51.100.4", Count: collector.MaxRequestsPerClientRecord}
	}
	recs := []collector.StoredRecord{refused("", "globex-bi"), refused("acme", "globex-bi"), refused("globex", "globex-bi")}
	a := assessStored(t, "globex-bi", recs)
	if want := int64(1 + 1 + collector.MaxRequestsPerClientRecord); a.Records != want {
		t.Errorf("records %d (tenants %v); want %d: a count naming globex-bi under no tenant or another tenant's is not its sidecar's fold", a.Records, a.Tenants, want)
	}
}
