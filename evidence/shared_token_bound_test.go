package evidence

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestSharedTokenQuarterIsFollowed: the pack followed at most 10,000
// instances and pods of one sender whatever its period, and sidecars
// sharing one token (the Kubernetes base gives each namespace one) make a
// new instance at each restart and a new pod at each rollout: a
// namespace's fleet of a quarter passed 10,000, and every pack of it said
// INCOMPLETE, a line its readers learn to pass over. The bound now scales
// with the period (10,000 a day, DefaultMaxPerSender), so a two-day pack
// of a shared token's 10,001 sidecars follows them all, and still finds
// another sidecar's lost batches; a flood is still bounded (a day's pack
// of them says INCOMPLETE, and what to do).
func TestSharedTokenQuarterIsFollowed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a store of 10,003 entries, each fsync'd")
	}
	data, key := t.TempDir(), newKey(t)
	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string) []collector.StoredRecord {
		return []collector.StoredRecord{{Time: clock, Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1",
			Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-" + id}}
	}
	for i := range perSenderPerDay + 1 {
		id := "ns-" + strconv.Itoa(i) + "-1"
		if err := st.AppendBatch(&collector.Batch{ID: id, Sender: "token:ns", Pod: "pod-ns-" + strconv.Itoa(i), Records: rec(id)}); err != nil {
			t.Fatal(err)
		}
	}
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
	retention := func(from, to string) string {
		t.Helper()
		p, err := ParseRange(from, to)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "RetentionSettings", p.Name, "md")))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	const unfollowed = "came from sidecar instances the pack did not follow"
	lost := `"pod-a" (token:sidecar-a) instance "sidecar-a": 3 of its batches 1 to 5`
	text := retention("2026-04-30", "2026-05-01")
	if strings.Contains(text, unfollowed) {
		t.Errorf("a two-day pack of a shared token's 10,001 sidecars says INCOMPLETE, %q:\n%.3000s", unfollowed, text)
	}
	if !strings.Contains(text, lost) {
		t.Errorf("the two-day pack does not say %q", lost)
	}
	text = retention("2026-05-01", "2026-05-01")
	if want := "INCOMPLETE: 1 batches holding the period's records " + unfollowed + " (past the first 10000 instances of their sender, or 100000 in all)"; !strings.Contains(text, want) {
		t.Errorf("the day's pack does not say %q:\n%.3000s", want, text)
	}
	if want := "build the pack again with --max-instances-per-sender 10001"; !strings.Contains(text, want) {
		t.Errorf("the day's pack does not say %q", want)
	}
}
