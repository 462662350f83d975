package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// A period part of whose records retention has deleted is not wholly in
// the store: the pack built from it must say so. Before, the pack of
// 2026-Q2 made from a store whose May segment retention had deleted
// counted June's records alone, its integrity proof said "Result: OK"
// (the deletion is accounted for in the chain, so the chain is intact)
// and nothing said that May's traffic was missing from the counts.
func TestPackSaysRetentionDeletedPartOfThePeriod(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	clock := time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 30 * 24 * time.Hour, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(tm time.Time, id string) collector.StoredRecord {
		return collector.StoredRecord{Time: tm, Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1", Method: "GET", Route: "/v1/users",
			Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: id}
	}
	if err := st.AppendBatch(&collector.Batch{ID: "may", Sender: "token:s", Records: []collector.StoredRecord{rec(clock, "r-may")}}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Hour)
	if err := st.Maintain(clock); err != nil { // May's segment closes
		t.Fatal(err)
	}
	clock = time.Date(2026, 6, 20, 9, 0, 0, 0, time.UTC)
	if err := st.AppendBatch(&collector.Batch{ID: "june", Sender: "token:s", Records: []collector.StoredRecord{rec(clock, "r-june")}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Maintain(clock); err != nil { // May's segment is past retention
		t.Fatal(err)
	}
	if _, err := st.SignHead(clock); err != nil {
		t.Fatal(err)
	}
	st.Close()

	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		period  string
		missing bool
	}{{"2026-Q2", true}, {"2026-06", false}} {
		p, _ := ParsePeriod(tt.period)
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key,
			Now: func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		proof, _ := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "RetentionSettings", p.Name, "md")))
		page, _ := os.ReadFile(filepath.Join(res.Dir, IndexFile))
		warned := strings.Contains(strings.Join(res.Warnings, "\n"), "deleted by retention")
		said := strings.Contains(string(proof), "INCOMPLETE") && strings.Contains(string(page), "deleted by retention")
		if warned != tt.missing || said != tt.missing {
			t.Errorf("pack of %s (May's segment deleted by retention): warned %t, proof and index say so %t; want %t\nwarnings %q\n%s",
				tt.period, warned, said, tt.missing, res.Warnings, proof)
		}
		if res.Records != 1 {
			t.Errorf("pack of %s counts %d records, want June's 1", tt.period, res.Records)
		}
	}
}
