package evidence

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAccessWorksheetSaysWhatItCannotCount: the access worksheet is the
// privileged integrations with their requests and last use in the
// period, on which a reviewer keeps, reduces or revokes each and signs
// the review approved, which the checklist then counts. It said nothing
// of what its counts did not cover: a store that began six weeks into
// the quarter, or one nobody verified, gave the same clean rows, and
// review start printed no warning. The worksheet now ends with a (note)
// row for each (a CSV of one width still), and Worksheet returns them as
// warnings for review start to print.
func TestAccessWorksheetSaysWhatItCannotCount(t *testing.T) {
	key := newKey(t)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	late, sound := t.TempDir(), t.TempDir()
	for dir, began := range map[string]time.Time{late: time.Date(2026, 5, 15, 9, 0, 0, 0, time.UTC), sound: sinceQ2()} {
		st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return began }})
		if err != nil {
			t.Fatal(err)
		}
		rec := collector.StoredRecord{Time: time.Date(2026, 5, 20, 9, 0, 0, 0, time.UTC), Tenant: "acme", Client: "acme-admin", KeyID: "acmeadm1",
			Method: "PUT", Route: "/v1/admin/settings", Path: "/v1/admin/settings", Status: 200, Decision: "allowed", RequestID: "r-1"}
		if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SignHead(began); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }
	notes := func(t *testing.T, data string, cfg Config) ([]string, []string) {
		t.Helper()
		cfg.Period, cfg.DataDir, cfg.History, cfg.Now = p, data, hist, now
		ws, warnings, err := Worksheet(cfg, ReviewAccess)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(ws)).ReadAll() // one width, or it fails
		if err != nil {
			t.Fatalf("the worksheet is no CSV of one width: %v\n%s", err, ws)
		}
		var out []string
		for _, r := range rows {
			if r[0] == accessNote {
				out = append(out, r[1])
			}
		}
		return out, warnings
	}
	says := func(list []string, want string) bool {
		return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, want) })
	}
	t.Run("began in the period, unverified", func(t *testing.T) {
		got, warnings := notes(t, late, Config{})
		for _, want := range []string{"INCOMPLETE: the store's first entry was stored at 2026-05-15T09:00:00Z", "NOT VERIFIED: no collector key was given"} {
			if !says(got, want) || !says(warnings, want[:20]) {
				t.Errorf("notes %q, warnings %q: want %q in both", got, warnings, want)
			}
		}
	})
	t.Run("covered and verified", func(t *testing.T) {
		if got, warnings := notes(t, sound, Config{SigningKey: key}); len(got) > 0 || len(warnings) > 0 {
			t.Errorf("notes %q, warnings %q on a store that covers the period and verifies; want none", got, warnings)
		}
	})
}
