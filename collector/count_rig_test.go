package collector

import (
	"testing"
	"time"
)

// countsAt is when the count tests' records are dated.
var countsAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// storeCounts stores recs in one batch of a sender bound to acme, in a new
// store, and returns how many counts intake did not believe and the
// tenants report over the store (what tenants top reads).
func storeCounts(t *testing.T, recs []StoredRecord) (notBelieved uint64, rep *TenantReport) {
	t.Helper()
	notBelieved, rep, _ = storeBatches(t, &Batch{ID: "b0", Sender: "token:sidecar-acme", Records: recs})
	return notBelieved, rep
}

// storeBatches is storeCounts of batches, stored in order, that also
// returns the store's directory.
func storeBatches(t *testing.T, batches ...*Batch) (notBelieved uint64, rep *TenantReport, dir string) {
	t.Helper()
	dir = t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := st.AppendBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	notBelieved = st.Stats().CountsNotBelieved
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = TopTenants(dir, time.Time{}, time.Time{}, ByRequests, 0)
	if err != nil {
		t.Fatal(err)
	}
	return notBelieved, rep, dir
}
