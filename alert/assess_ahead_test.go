package alert

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAssessLastSeenNeverAfterReceipt: incident assess took a client's
// last seen from its records' times as their senders wrote them, so one
// forged record dated 2036 (stored flagged time_outside_window, and read
// in the window it arrived in) made the client "last seen" in 2036, and
// the assessment hid when its credential was really last used. A record
// counts no later than the collector stored it (CountedAt), as detection
// and the evidence pack count it.
func TestAssessLastSeenNeverAfterReceipt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Date(2026, 5, 9, 9, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(at time.Time, flags ...string) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1", Method: "GET", Route: "/v1/users",
			Status: 200, Decision: "allowed", SourceIP: "198.51.100.4", Flags: flags}
	}
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-acme", Records: []collector.StoredRecord{
		rec(time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC), collector.FlagTimeOutsideWindow)}}); err != nil {
		t.Fatal(err)
	}
	real := now.Add(time.Hour)
	now = real.Add(time.Second)
	if err := st.AppendBatch(&collector.Batch{ID: "b2", Sender: "token:sidecar-acme", Records: []collector.StoredRecord{rec(real)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := Assess(dir, "acme-hris", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), examplePolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.Records != 2 || !a.LastSeen.Equal(real) {
		t.Errorf("%d records, last seen %s; want 2, last seen %s (the real use; the forged record arrived an hour before it)", a.Records, a.LastSeen, real)
	}
}
