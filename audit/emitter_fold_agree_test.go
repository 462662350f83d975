package audit_test

import (
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// TestClientFoldAgreesWithCollector: the emitter folds a record naming a
// verified client exactly when the collector believes the count of such a
// record, over every decision, limit, status and tenant. Before, the
// emitter folded a client's rate_limited or concurrency_limited record
// whatever its status (a connection cut before its 429 left is recorded
// with status 0, dataplane/record.go) and named tenant, while the
// collector believes a count only on a 429 naming a tenant: a cut flood
// was folded into records whose counts the collector counted as one
// request each.
func TestClientFoldAgreesWithCollector(t *testing.T) {
	t.Parallel()
	var limits []Limit
	for l := Limit(0); l.String() != "unknown"; l++ {
		limits = append(limits, l)
	}
	for d := Decision(0); int(d) < NumDecisions; d++ {
		for _, l := range limits {
			for _, status := range []uint16{0, 200, 401, 429, 503} {
				for _, tenant := range []string{"", "acme"} {
					r := Record{Tenant: tenant, Client: "acme-crm", AuthMethod: AuthAPIKey, Decision: d, Limit: l, Status: status, Route: "/v1/users"}
					s := collector.StoredRecord{Tenant: tenant, Client: "acme-crm", AuthMethod: "api_key", Decision: d.String(), Limit: l.String(),
						Status: int64(status), Route: "/v1/users", Count: 2}
					if folds, believed := Foldable(&r), s.Requests() == 2; folds != believed {
						t.Errorf("decision %s, limit %q, status %d, tenant %q: the emitter folds it %v, the collector believes its count %v",
							d, l, status, tenant, folds, believed)
					}
				}
			}
		}
	}
}
