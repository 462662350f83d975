package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestKeyAgeCoversKeysCreatedBeforeThePeriod: the keys `keys create`
// makes live in etcd, not in the policy document, and the key age rows
// came from the policy document and the period's own events. A key made
// a year before the quarter, never rotated nor revoked, had no row: a
// stale key escaped "over max_key_age" because it was simply not loaded.
// The trail's key events before the period rebuild the keys live when it
// began; one revoked before it has no row.
func TestKeyAgeCoversKeysCreatedBeforeThePeriod(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(tm time.Time, rev int64, action, target string) collector.Event {
		d, _ := json.Marshal(map[string]string{"client": "acme-hris"})
		return collector.Event{Time: tm, Key: "/p/events/" + target + action, Revision: rev, Actor: "carol", Action: action, Target: target, Ticket: "CHG-7", Details: d}
	}
	if err := st.AppendEvents([]collector.Event{
		ev(time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC), 11, etcdadmin.ActionKeyCreate, "acmehris7"),
		ev(time.Date(2025, 3, 11, 9, 0, 0, 0, time.UTC), 12, etcdadmin.ActionKeyCreate, "acmehris8"),
		ev(time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC), 13, etcdadmin.ActionKeyRevoke, "acmehris8"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(good), "max_key_age: 87600h", "max_key_age: 2160h", 1) // 90 days, as a real deployment
	hist := []etcdadmin.HistoryEntry{{Revision: 3, Time: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), Actor: "ops", Digest: "d3", Document: doc}}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))
	var got []string
	for _, r := range rows {
		if r[1] == "key age" && strings.HasPrefix(r[2], "acmehris") && r[2] != "acmehris1" {
			got = append(got, r[2]+" "+r[8])
		}
	}
	std, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIAuth", "AuthenticationStandard", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "| acmehris7 | 2025-03-10T09:00:00Z | carol | CHG-7 | none (no expiry) | - |"; !strings.Contains(string(std), want) || strings.Contains(string(std), "| acmehris8 |") {
		t.Errorf("the authentication standard does not list the key made in etcd, %q (nor leave out the one revoked before the period):\n%s", want, std)
	}
	if want := "acmehris7 over max_key_age"; len(got) != 1 || got[0] != want {
		t.Errorf("key age rows of the keys made before the period: %q, want [%q] (acmehris8 was revoked before it)", got, want)
	}
}
