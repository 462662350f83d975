package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// A pack made before its period ends covers only the part of it gone
// by: the rest of the quarter's records, events and sign-offs are not in
// it. Before, nothing in the pack said so: its index said "Period
// 2026-10-01 to 2027-01-01" and its signed manifest "Period Covered:
// 2026-Q4", the claim of a complete quarter, for a pack made on December
// 2nd.
func TestPackOfARunningPeriodSaysPartial(t *testing.T) {
	data := t.TempDir()
	reviewStore(t, data, collector.Event{Time: time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC), Key: "/p/events/k", Revision: 5,
		Actor: "carol", Action: "key.create", Target: "acmehris9", Ticket: "CHG-1", Details: json.RawMessage(`{"client":"acme-hris"}`)})
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q4")
	made := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		now     time.Time
		partial bool
	}{{"running", made, true}, {"ended", p.To.Add(time.Hour), false}} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), Now: func() time.Time { return tt.now }})
			if err != nil {
				t.Fatal(err)
			}
			page, err := os.ReadFile(filepath.Join(res.Dir, IndexFile))
			if err != nil {
				t.Fatal(err)
			}
			list, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(strings.Join(res.Warnings, "\n"), "2026-12-02T08:00:00Z")
			inIndex := strings.Contains(string(page), "Partial period") && strings.Contains(string(page), "2026-12-02T08:00:00Z")
			inList := strings.Contains(string(list), "Partial period")
			// (Packed without the collector's key: the manifest says the
			// store was not verified as well.)
			// Nor was it built with etcd: the silence is not checked.
			unverified := "the store was NOT VERIFIED, no collector key was given; silence NOT CHECKED, no member records (built without --etcd): see " + FileName("APILogging", "RetentionSettings", p.Name, "md")
			manifest := true
			for _, r := range res.Files {
				manifest = manifest && r.Period == p.Name+" (partial, to 2026-12-02T08:00:00Z; "+unverified+")"
			}
			if !tt.partial {
				manifest = !manifest
				for _, r := range res.Files {
					manifest = manifest && r.Period == p.Name+" ("+unverified+")"
				}
			}
			if warned != tt.partial || inIndex != tt.partial || inList != tt.partial || !manifest {
				t.Errorf("made %s for a period ending %s: warned %t, index says partial %t, checklist %t, manifest right %t; want partial %t\nwarnings %q\nmanifest %+v",
					tt.now.Format(time.RFC3339), p.To.Format(time.RFC3339), warned, inIndex, inList, manifest, tt.partial, res.Warnings, res.Files[0])
			}
		})
	}
}
