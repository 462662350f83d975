package evidence

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPackTellsOfRecordsOutsideTheRecordWindow: the collector flags a
// record dated further than --record-window from its receipt
// (time_outside_window), and one dated before it stays in its own period:
// a sender that wrote, in July, records dated in May (a stolen token
// forging the privileged use or the first denial after a revocation of a
// quarter already over) had them counted in the Q2 pack like any other,
// and the pack said nothing of them. It now says how many of the period's
// records were stored so flagged, and how many of them after the period
// ended, with a warning.
func TestPackTellsOfRecordsOutsideTheRecordWindow(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	received := time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return received }})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(at time.Time, flags ...string) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: "acme", Client: "acme-admin", Method: "GET", Route: "/v1/admin/settings",
			Path: "/v1/admin/settings", Status: 200, Decision: "allowed", RequestID: "r-" + at.Format(time.DateOnly), Flags: flags}
	}
	batch := &collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: []collector.StoredRecord{
		rec(time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC), collector.FlagTimeOutsideWindow),
		rec(time.Date(2026, 5, 7, 9, 0, 0, 0, time.UTC), collector.FlagTimeOutsideWindow),
		rec(time.Date(2026, 7, 2, 8, 59, 0, 0, time.UTC)),
	}}
	if err := st.AppendBatch(batch); err != nil {
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
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(res.Dir, "APILogging-RetentionSettings-2026-Q2.md"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "2 records of the period were stored flagged `time_outside_window`, 2 of them received after the period ended"
	if !strings.Contains(string(text), want) {
		t.Errorf("the retention file does not say %q:\n%s", want, text)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "time_outside_window") }) {
		t.Errorf("warnings %q: none names the records stored outside the record window", res.Warnings)
	}
}
