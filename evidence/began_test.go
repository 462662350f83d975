package evidence

import (
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPackSaysWhenTheStoreBegan: the store holds nothing of the time
// before its first entry. A collector started on 15 May packed for Q2
// counted six weeks as the quarter, and a store that held nothing at all
// (or began after the period) gave a pack saying "No activity in this
// period" with every answer as for a quiet quarter. Each now says, in
// the checklist, the integrity file and index.html, what the store cannot
// cover, with a warning.
func TestPackSaysWhenTheStoreBegan(t *testing.T) {
	key := newKey(t)
	started := time.Date(2026, 5, 15, 9, 0, 0, 0, time.UTC)
	store := func(records bool) string {
		data := t.TempDir()
		st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return started }})
		if err != nil {
			t.Fatal(err)
		}
		if records {
			rec := collector.StoredRecord{Time: started, Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1", Method: "GET",
				Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-1"}
			if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: []collector.StoredRecord{rec}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.SignHead(started); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return data
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	withRecords, empty := store(true), store(false)
	tests := []struct {
		name, data, period, want string
	}{
		{"began in the period", withRecords, "2026-Q2", "INCOMPLETE: the store's first entry was stored at 2026-05-15T09:00:00Z, after period 2026-Q2 began (2026-04-01T00:00:00Z)"},
		{"began after the period", withRecords, "2026-Q1", "INCOMPLETE: the store's first entry was stored at 2026-05-15T09:00:00Z, after period 2026-Q1 ended"},
		{"holds nothing", empty, "2026-Q2", "INCOMPLETE: the store holds no entry at all"},
		{"began before the period", withRecords, "2026-06", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePeriod(tt.period)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Pack(Config{Period: p, DataDir: tt.data, History: hist, Out: t.TempDir(), SigningKey: key})
			if err != nil {
				t.Fatal(err)
			}
			warned := slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "store") && strings.Contains(w, "INCOMPLETE") })
			for _, f := range []string{FileName("APIGovernance", "ISO27017Checklist", p.Name, "md"), FileName("APILogging", "RetentionSettings", p.Name, "md"), IndexFile} {
				raw, err := os.ReadFile(filepath.Join(res.Dir, f))
				if err != nil {
					t.Fatal(err)
				}
				text := html.UnescapeString(string(raw))
				if tt.want == "" && strings.Contains(text, "INCOMPLETE") {
					t.Errorf("%s of a period the store covers says INCOMPLETE:\n%s", f, text)
				}
				if tt.want != "" && !strings.Contains(text, tt.want) {
					t.Errorf("%s does not say %q:\n%s", f, tt.want, text)
				}
			}
			// The signed manifest, uploaded alone to the evidence library,
			// says it too: before, it claimed the whole period.
			// It was checked against no published head, which it says
			// beside incomplete: before, it said only the first of the two.
			covered := p.Name + " (ROLLBACK NOT CHECKED, no published head; silence NOT CHECKED, no member records (built without --etcd): see " + FileName("APILogging", "RetentionSettings", p.Name, "md") + ")"
			// An empty store fails audit verify too (nothing to verify is no
			// proof), which it says as well.
			switch {
			case tt.data == empty:
				covered = p.Name + " (incomplete; the store failed its integrity proof; ROLLBACK NOT CHECKED, no published head; silence NOT CHECKED, no member records (built without --etcd): see " + FileName("APILogging", "RetentionSettings", p.Name, "md") + ")"
			case tt.want != "":
				covered = p.Name + " (incomplete; ROLLBACK NOT CHECKED, no published head; silence NOT CHECKED, no member records (built without --etcd): see " + FileName("APILogging", "RetentionSettings", p.Name, "md") + ")"
			}
			for _, r := range res.Files {
				if r.Period != covered {
					t.Errorf("manifest row %s: Period Covered %q, want %q", r.File, r.Period, covered)
					break
				}
			}
			if got, err := Covered(res.Dir); err != nil || got != covered {
				t.Errorf("Covered = %q, %v; want %q", got, err, covered)
			}
			if warned != (tt.want != "") {
				t.Errorf("warnings %q: want one saying what the store does not cover: %t", res.Warnings, tt.want != "")
			}
		})
	}
}
