package collector

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// A verified client's folded limit refusals (audit
// TestClientRateLimitFloodFolded) reach a real collector over loopback:
// a sender bound to acme has acme's folded 429s stored and counted for
// every request, up to MaxRequestsPerClientRecord; the same record naming
// globex refuses the batch 403 tenant_not_bound as any other record would;
// an allowed record's count is counted one request, a count past the
// ceiling the ceiling, and both in
// portcullis_collector_counts_not_believed_total.
func TestClientLimitRefusalCountOverLoopback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := boundCollector(t, dir, &logLines{})
	refusal := func(i int, tenant string, count uint32) audit.Record {
		r := tenantRecord(i, tenant)
		r.Client, r.Status, r.Decision, r.Limit, r.Count = tenant+"-crm", 429, audit.RateLimited, audit.LimitKey, count
		return r
	}
	if got := post(t, srv.URL, acmeToken, encodeBatch("c-1", refusal(1, "acme", 500)), false); got != 200 {
		t.Fatalf("bound sender, its tenant's folded refusals: status %d, want 200", got)
	}
	if got := post(t, srv.URL, acmeToken, encodeBatch("c-2", refusal(2, "globex", 500)), false); got != 403 {
		t.Fatalf("bound sender, another tenant's folded refusals: status %d, want 403 tenant_not_bound", got)
	}
	allowed := tenantRecord(3, "acme")
	allowed.Client, allowed.Count = "acme-crm", 99
	if got := post(t, srv.URL, acmeToken, encodeBatch("c-3", allowed, refusal(4, "acme", MaxRequestsPerClientRecord+1)), false); got != 200 {
		t.Fatalf("bound sender, counts not believed: status %d, want 200 (stored, counted as one)", got)
	}
	var requests int64
	for _, r := range storedRecords(t, dir) {
		if r.Tenant != "acme" {
			t.Errorf("stored a record of tenant %q", r.Tenant)
		}
		requests += r.Requests()
	}
	if want := int64(500 + 1 + MaxRequestsPerClientRecord); requests != want {
		t.Errorf("stored records stand for %d requests, want %d (500 folded, the allowed one, the one past the ceiling held at it)", requests, want)
	}
	if m := getMetricsWith(t, srv.URL, sharedToken); !strings.Contains(m, "portcullis_collector_counts_not_believed_total 2\n") {
		t.Errorf("metrics do not count 2 counts not believed:\n%s", m)
	}
}
