package evidence

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestLastUseNeverAfterReceipt: a record's time is its sender's claim,
// and a record dated ahead of the collector's clock (years ahead,
// flagged time_outside_window, or minutes ahead within the window) was
// an integration's last use in the scope matrix and the privileged access
// review for as long as the pack covered it: a stolen sidecar token
// wrote one record dated 2036 and every later review showed the
// integration used in 2036, hiding its real last use. A use is counted
// no later than the collector received it, as detection counts it
// (alert countedAt, collector.StoredRecord.Until).
func TestLastUseNeverAfterReceipt(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	now := time.Date(2026, 5, 9, 9, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(at time.Time, keyID string, flags ...string) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: "acme", Client: "acme-admin", KeyID: keyID, Method: "PUT", Route: "/v1/admin/settings",
			Path: "/v1/admin/settings", Status: 200, Decision: "allowed", RequestID: "r-" + keyID, Flags: flags}
	}
	// The forgery arrives first, on May 9: one record dated 2036 and one
	// ten minutes ahead (inside --record-window, not flagged).
	forged := &collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: []collector.StoredRecord{
		rec(time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC), "forged1", collector.FlagTimeOutsideWindow),
		rec(now.Add(10*time.Minute), "forged2"),
	}}
	if err := st.AppendBatch(forged); err != nil {
		t.Fatal(err)
	}
	// The integration's real last use, on May 10.
	real := time.Date(2026, 5, 10, 9, 0, 0, 0, time.UTC)
	now = real.Add(2 * time.Second)
	if err := st.AppendBatch(&collector.Batch{ID: "b2", Sender: "token:sidecar-2", Records: []collector.StoredRecord{rec(real, "acmeadm1")}}); err != nil {
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
	rows := func(name string) map[string]string {
		t.Helper()
		f, err := os.Open(filepath.Join(res.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		all, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for _, r := range all[1:] {
			if r[0] == "acme-admin" {
				for i, h := range all[0] {
					row[h] = r[i]
				}
			}
		}
		return row
	}
	const want = "2026-05-10T09:00:00Z"
	if got := rows("APIAuth-ScopeRoleMatrix-2026-Q2.csv")["last_used"]; got != want {
		t.Errorf("scope matrix: acme-admin last_used %q, want %q (its real last use; the forged records arrived the day before)", got, want)
	}
	priv := rows("APIPrivileged-PrivilegedAccess-2026-Q2.csv")
	if priv["last_use"] != want || priv["last_key"] != "acmeadm1" {
		t.Errorf("privileged access: acme-admin last_use %q with key %q, want %q with acmeadm1", priv["last_use"], priv["last_key"], want)
	}
}
