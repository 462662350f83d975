package evidence

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestInstanceFloodHidesNoLostBatches: the pack follows at most
// a bound of sidecar instances to find the batches a sidecar numbered
// that the store does not hold, and the first instances stored took every
// place. A stolen sender credential naming a new instance in each of
// 10,000 tiny batches, stored before a period's first real batch,
// left every real sidecar unfollowed: a sidecar's batches 2 to 4 never
// reached the store and the pack said nothing of it, no INCOMPLETE line,
// its retention file alone counting "batches ... not followed one by one".
// One sender's instances now take at most Config.MaxPerSender places
// (of ten times that; the test floods past 20), and batches of instances
// not followed are an INCOMPLETE line of the pack, naming their sender.
func TestInstanceFloodHidesNoLostBatches(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	clock := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string) []collector.StoredRecord {
		return []collector.StoredRecord{{Time: clock, Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1",
			Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-" + id}}
	}
	// The thief's instances, one batch each, none missing a number.
	const bound = 20 // Config.MaxPerSender: the default's flood of 10,000 is the same past a bound of 20
	for i := range bound + 1 {
		id := "thief-" + strconv.Itoa(i) + "-1"
		if err := st.AppendBatch(&collector.Batch{ID: id, Sender: "token:thief", Pod: "pod-thief", Records: rec(id)}); err != nil {
			t.Fatal(err)
		}
	}
	// The real sidecar's batches 1 and 5 reached the store; 2 to 4 never did.
	for _, id := range []string{"sidecar-a-1", "sidecar-a-5"} {
		if err := st.AppendBatch(&collector.Batch{ID: id, Sender: "token:sidecar-a", Pod: "pod-a", Records: rec(id)}); err != nil {
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
	p, err := ParseRange("2026-05-01", "2026-05-01")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d", MaxPerSender: bound})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "RetentionSettings", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	lost := `INCOMPLETE: 3 batches the period's sidecars numbered are not in the store`
	if !strings.Contains(text, lost) || !strings.Contains(text, `"pod-a" (token:sidecar-a) instance "sidecar-a": 3 of its batches 1 to 5`) {
		t.Errorf("the retention file does not say %q of pod-a's instance:\n%s", lost, text)
	}
	unfollowed := "INCOMPLETE: 1 batches holding the period's records came from sidecar instances the pack did not follow"
	if !strings.Contains(text, unfollowed) || !strings.Contains(text, "token:thief: 1 batches") {
		t.Errorf("the retention file does not say %q:\n%s", unfollowed, text)
	}
	if want := "--max-instances-per-sender 21"; !strings.Contains(text, want) {
		t.Errorf("the retention file does not say what to do, %q", want)
	}
	for _, w := range []string{lost, unfollowed} {
		if !slices.ContainsFunc(res.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no warning says %q: %q", w, res.Warnings)
		}
	}
}
