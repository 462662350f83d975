package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestDailyChartShowsQuietDays: the daily chart had a bar group only for
// days with records, so a day without a request vanished and the days
// either side of it stood side by side as if consecutive. A store with
// records on 11 and 13 May, packed for 11 to 13 May, now charts 12 May
// at zero; a pack made on 11 May at noon charts no 12 May.
func TestDailyChartShowsQuietDays(t *testing.T) {
	key := newKey(t)
	data := t.TempDir()
	day := time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return day }})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []int{0, 2} {
		rec := collector.StoredRecord{Time: day.AddDate(0, 0, d).Add(9 * time.Hour), Tenant: "acme", Client: "acme-hris", KeyID: "acmehris2",
			Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-" + string(rune('a'+i))}
		if err := st.AppendBatch(&collector.Batch{ID: "sidecar-a-" + string(rune('1'+i)), Sender: "token:sidecar-a", Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRange("2026-05-11", "2026-05-13")
	if err != nil {
		t.Fatal(err)
	}
	page := func(now time.Time) string {
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(res.Dir, IndexFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	got := page(p.To.Add(time.Hour))
	for _, want := range []string{"<title>2026-05-11 allowed: 1</title>", "<title>2026-05-12 allowed: 0</title>", "<title>2026-05-13 allowed: 1</title>",
		">2026-05-11</text>", ">2026-05-12</text>", ">2026-05-13</text>", ">acme</text>"} {
		if !strings.Contains(got, want) {
			t.Errorf("index.html has no bar %q", want)
		}
	}
	// Made on 11 May at noon: 12 May has not come, so it is no zero.
	if got = page(day.Add(12 * time.Hour)); strings.Contains(got, "<title>2026-05-12 allowed:") {
		t.Errorf("a pack made on 11 May charts 12 May")
	}
}

// TestThrottlingSampleHasQuietDays: the daily chart shows a day without
// a denial at zero, but the throttling sample's daily counts had rows
// only for days with one: 12 May, between two days of 429s, was no row,
// and a reader of the CSV saw 11 and 13 May side by side. Every day of
// the period now has its rows, a quiet one a row of count 0.
func TestThrottlingSampleHasQuietDays(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	data := t.TempDir()
	day := time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return day }})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []int{0, 2} {
		rec := collector.StoredRecord{Time: day.AddDate(0, 0, d).Add(9 * time.Hour), Tenant: "acme", Client: "acme-hris", KeyID: "acmehris2",
			Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", RequestID: "r-" + string(rune('a'+i))}
		if err := st.AppendBatch(&collector.Batch{ID: "sidecar-a-" + string(rune('1'+i)), Sender: "token:sidecar-a", Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRange("2026-05-11", "2026-05-13")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIRateLimits", "ThrottlingSample", p.Name, "csv"))) {
		if r[0] == "daily_count" {
			got = append(got, strings.Join(r[1:5], " "))
		}
	}
	want := []string{"2026-05-11 acme 429 1", "2026-05-12 (all tenants) any 0", "2026-05-13 acme 429 1"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("daily counts %q, want %q", got, want)
	}
}
