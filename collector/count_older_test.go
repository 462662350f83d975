package collector

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// TestFoldCountHeldAtTheSidecarsBound: the sidecar's emitter closes every
// folded group, a verified client's limit refusals and the denials
// without a verified credential alike, at audit.MaxFoldCount requests
// (audit TestFoldedGroupClosesAtMaxFoldCount), so no record of a sidecar
// of that version counts more. The collector believed a fold of denials
// without a verified credential up to 2^32, which only a sidecar before
// that bound, or a forger, writes: one record from a sender made 2^32
// unauthenticated requests of the period. And a verified client's limit
// refusal past 65,536, which a sidecar before the bound wrote for a
// group refused more often in one second, counted one request: a real
// flood of that sidecar was recorded as almost nothing. Each now counts
// audit.MaxFoldCount, what a record of the current sidecar can say, and
// is counted not believed.
func TestFoldCountHeldAtTheSidecarsBound(t *testing.T) {
	t.Parallel()
	at := countsAt
	recs := []StoredRecord{
		{Time: at, Status: 401, Decision: "unauthenticated", SourceIP: "203.0.113.7", Count: 1 << 32},
		{Time: at, Status: 401, Decision: "unauthenticated", SourceIP: "203.0.113.8", Count: audit.MaxFoldCount},
		{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", Count: 100_000},
	}
	n, rep := storeCounts(t, recs)
	if n != 2 {
		t.Errorf("CountsNotBelieved = %d, want 2 (the counts past audit.MaxFoldCount)", n)
	}
	if want := int64(3 * audit.MaxFoldCount); rep.Requests != want {
		t.Errorf("requests %d, want %d: a fold's count is believed up to audit.MaxFoldCount and held there past it", rep.Requests, want)
	}
}
