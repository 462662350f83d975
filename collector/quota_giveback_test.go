package collector

import (
	"net/http/httptest"
	"testing"
	"time"
)

// A batch the collector cannot store (store_unavailable) spends none of
// its sender's quota: the sidecar sends it again, and every attempt was
// charged, so that once the store was back the sender was answered 429
// for batches none of which was stored. Here the store is closed; each
// retry of a batch costing a quarter of the quota is answered 503
// store_unavailable, never 429.
func TestSenderQuotaGivenBackWhenNotStored(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	const quota = 1 << 20
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20, SenderQuota: quota, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	st.Close()
	batch := emptyRecordsBatch("unstored-1", 1000) // some 270 KB of the quota
	for i := range 8 {
		if code, e, _ := postAnswer(t, srv.URL, testToken, batch); code != 503 || e != "store_unavailable" {
			t.Fatalf("attempt %d of a batch on a closed store: %d %q, want 503 store_unavailable (the attempts before stored nothing and spent no quota)", i+1, code, e)
		}
	}
}

// A duplicate (a retry of a batch already stored, answered 200) stores
// nothing: what its records would store is given back. Its bytes stay
// charged, as a malformed batch's do: reading and decoding it is the
// work the quota bounds, and a token replaying one stored batch is
// otherwise decoded without end. Before, each retry was charged its
// records' storage again, and four copies of a batch of a quarter of the
// quota spent it: the sender's next new batch was answered 429.
func TestSenderQuotaDuplicateChargesNoStorage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Now()
	const quota = 1 << 20
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20, SenderQuota: quota, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	batch := emptyRecordsBatch("dup-1", 1000) // some 270 KB of the quota
	for i := range 4 {
		if code, e, _ := postAnswer(t, srv.URL, testToken, batch); code != 200 {
			t.Fatalf("copy %d of a stored batch: %d %q, want 200", i+1, code, e)
		}
	}
	if code, e, _ := postAnswer(t, srv.URL, testToken, emptyRecordsBatch("dup-2", 1000)); code != 200 {
		t.Errorf("a new batch after three retries of one stored batch: %d %q, want 200: the retries stored nothing", code, e)
	}
	n := 0
	ScanEntries(dir, func(e *Entry) error {
		if e.BatchID == "dup-1" || e.BatchID == "dup-2" {
			n++
		}
		return nil
	})
	if n != 2 {
		t.Errorf("%d entries of dup-1 and dup-2, want one each", n)
	}
}
