package alert

import (
	"crypto/ed25519"
	"crypto/rand"
	"math"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAssessCountsAsTheSidecarAggregates: incident assess summed each
// record's count and bytes as its sender wrote them. Two forged allowed
// records of acme-hris, each of count and bytes math.MaxInt64, wrapped the
// client's totals negative (records 4294967294 beside routes of -2, bytes
// out -2), and counts chosen to wrap could bring a real exfiltration's
// volume to any figure. A record now stands for its count only in the
// shape the sidecar aggregates (a refusal naming no client), at most collector.MaxRequestsPerRecord,
// only bytes sent count, and every sum holds at math.MaxInt64.
func TestAssessCountsAsTheSidecarAggregates(t *testing.T) {
	t.Parallel()
	at := time.Now().UTC().Add(-time.Minute)
	allowed := func(count, bytes int64) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1", Method: "GET", Route: "/v1/users",
			Status: 200, Decision: "allowed", SourceIP: "198.51.100.4", BytesOut: bytes, Count: count}
	}
	recs := []collector.StoredRecord{
		allowed(0, 1000), allowed(0, 1000),
		allowed(math.MaxInt64, math.MaxInt64), allowed(math.MaxInt64, math.MaxInt64), allowed(0, -1<<62),
		// A guessing flood the sidecar folded: its key id names acme-hris.
		{Time: at, KeyID: "acmehris1", Method: "GET", Route: "/v1/users", Status: 401, Decision: "unauthenticated", SourceIP: "203.0.113.7", Count: 50},
	}
	a := assessStored(t, "acme-hris", recs)
	if a.Records != 55 || a.Routes["GET /v1/users"] != 55 || a.Statuses["200"] != 5 || a.Statuses["401"] != 50 || a.KeyIDs["acmehris1"] != 55 {
		t.Errorf("records %d, routes %v, statuses %v, key ids %v; want 55 requests (5 allowed records, one each, and the 50 a folded refusal stands for)",
			a.Records, a.Routes, a.Statuses, a.KeyIDs)
	}
	if a.BytesOut != math.MaxInt64 {
		t.Errorf("bytes out %d, want it held at math.MaxInt64 (never wrapped, never taken off by a negative record)", a.BytesOut)
	}
}

// assessStored stores recs, one batch of the sender token:sidecar-acme,
// in a new store and assesses client in it under examplePolicy.
func assessStored(t *testing.T, client string, recs []collector.StoredRecord) *Assessment {
	t.Helper()
	return assessStoredBound(t, client, "", recs)
}

// assessStoredBound is assessStored with the sender bound to the tenants
// bound ("a,b"; "" for none), as the collector stores a bound sender's
// batch.
func assessStoredBound(t *testing.T, client, bound string, recs []collector.StoredRecord) *Assessment {
	t.Helper()
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-acme", BoundTenants: bound, Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := Assess(dir, client, time.Time{}, time.Time{}, examplePolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
