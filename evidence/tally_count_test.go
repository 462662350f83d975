package evidence

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// Finding (outside review of the limits): a record's count is the
// sender's to write, and the pack summed it as written: one 429 record of
// count math.MaxInt64 and any other request wrapped the period's total
// negative, so the noisy-neighbour view (ThrottlingSample's tenant
// shares) gave every tenant a negative or absurd share. A record now
// stands for at most collector.MaxRequestsPerRecord requests (65,536, what
// one folded record of the sidecar counts), as alert detection and
// tenants top count it. It is taken only from a record of the shape the sidecar
// aggregates (a denial naming no tenant, client or verified token): one
// allowed record of acme's client with count math.MaxInt64, which no
// sidecar writes, made acme 2^32 requests
// (collector.StoredRecord.Requests).
func TestPackCapsRecordCount(t *testing.T) {
	at := time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)
	rec := func(tenant string, status int64, decision string, count int64) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: tenant, Client: tenant + "-app", Method: "GET", Route: "/v1/users",
			Path: "/v1/users", Status: status, Decision: decision, RequestID: "r-" + tenant, Count: count}
	}
	shares := packShares(t, []collector.StoredRecord{
		{Time: at, Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 429, Decision: "token_failures_limited", Count: math.MaxInt64},
		rec("acme", 200, "allowed", 0), rec("acme", 200, "allowed", 0), rec("acme", 200, "allowed", math.MaxInt64),
	})
	if want := strconv.FormatInt(collector.MaxRequestsPerRecord, 10) + "/100.0"; shares[""] != want || shares["acme"] != "3/0.0" {
		t.Errorf("tenant shares %v, want (no tenant)=%s, the folded refusals, and acme=3/0.0 (a count on an allowed record is no sidecar's)", shares, want)
	}
}

// packShares stores recs in one batch, packs 2026-Q2 over them and returns
// the ThrottlingSample's tenant_share rows, tenant to "count/share".
func packShares(t *testing.T, recs []collector.StoredRecord) map[string]string {
	t.Helper()
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	shares := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, "APIRateLimits-ThrottlingSample-2026-Q2.csv"))[1:] {
		if r[0] != "tenant_share" {
			continue
		}
		shares[r[2]] = r[4] + "/" + r[12]
		n, _ := strconv.ParseInt(r[4], 10, 64)
		pct, _ := strconv.ParseFloat(r[12], 64)
		if n < 0 || pct < 0 || pct > 100 {
			t.Errorf("tenant_share row %q: a count or share out of range", r)
		}
	}
	return shares
}

// TestPackHoldsTheSenderCeiling: the pack's noisy-neighbour shares take a
// record's count by the rule detection and incident assess take it
// (collector.StoredRecord.Requests), the sender's ceiling a second too: of
// 1,001 full folds of one sender in one second, the one past
// collector.MaxSenderRequestsPerSecond counts one. Before, the pack counted
// 65,601,536 (alert TestDetectionAndAssessHoldTheSenderCeiling).
func TestPackHoldsTheSenderCeiling(t *testing.T) {
	at := time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)
	recs := make([]collector.StoredRecord, policy.MaxGlobalSidecars+1)
	for i := range recs {
		recs[i] = collector.StoredRecord{Time: at, Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 429,
			Decision: "token_failures_limited", SourceIP: "203.0.113.7", Count: audit.MaxFoldCount}
	}
	shares := packShares(t, recs)
	if want := strconv.FormatInt(collector.MaxSenderRequestsPerSecond+1, 10) + "/100.0"; shares[""] != want {
		t.Errorf("tenant shares %v, want (no tenant)=%s: a sender's second held at its ceiling, the fold past it one", shares, want)
	}
}
