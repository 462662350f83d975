package collector

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// TestClientCountCeilingIsTheSidecars: the sidecar's emitter closes a
// folded group at audit.MaxFoldCount requests and opens another (audit
// TestFoldedGroupClosesAtMaxFoldCount), so no record it writes counts
// more. The collector believed a client's limit refusal up to 1,000,000,
// a ceiling no sidecar's record reaches and no data plane cap implies (a
// refusal holds no in-flight slot; pipelined on kept-alive connections it
// is bounded only by CPU): a sender bound to acme charged acme's client a
// million refusals a record, fifteen times what one sidecar's record can
// say. A count past audit.MaxFoldCount on a record naming a client now
// counts audit.MaxFoldCount (TestFoldCountHeldAtTheSidecarsBound) and is
// counted not believed.
func TestClientCountCeilingIsTheSidecars(t *testing.T) {
	t.Parallel()
	at := countsAt
	refusal := func(count int64) StoredRecord {
		return StoredRecord{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", Count: count}
	}
	recs := []StoredRecord{refusal(audit.MaxFoldCount), refusal(audit.MaxFoldCount + 1), refusal(1_000_000)}
	n, rep := storeCounts(t, recs)
	if n != 2 {
		t.Errorf("CountsNotBelieved = %d, want 2 (the counts past audit.MaxFoldCount)", n)
	}
	if want := int64(3 * audit.MaxFoldCount); rep.Requests != want {
		t.Errorf("requests %d, want %d: a client's count is believed up to what one record of the sidecar holds", rep.Requests, want)
	}
}
