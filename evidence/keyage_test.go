package evidence

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The token lifecycle file gives every key's age at the end of the period
// against lifecycle.max_key_age: over or under it, and its rotation or
// revocation evidence (issue 20).
func TestLifecycleLogKeyAges(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	activity(t, data, key)
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc = bytes.Replace(doc, []byte("max_key_age: 87600h"), []byte("max_key_age: 2160h"), 1)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q2")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d",
		Now: func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, "APIAuth-TokenLifecycleLog-2026-Q2.csv")) {
		if r[1] == "key age" {
			got[r[2]] = r
		}
	}
	want := map[string]struct{ flag, note string }{
		"globexbi1": {"over max_key_age", "created 2026-01-01T00:00:00Z, age 181d of max_key_age 90d"},
		"acmehris2": {"under max_key_age", "created 2026-05-02T09:00:00Z, age 59d of max_key_age 90d"},
		"acmeadm1":  {"rotated", "; rotated 2026-05-02T10:00:00Z to - by dave (ticket -)"},
		"acmehris1": {"revoked", "; revoked 2026-05-10T12:00:00Z"},
		"revoked1":  {"revoked", "; revoked"},
	}
	for id, w := range want {
		r, ok := got[id]
		if !ok {
			t.Errorf("no key age row for %s; rows %q", id, got)
			continue
		}
		if r[0] != "2026-07-01T00:00:00Z" || r[8] != w.flag || !strings.Contains(r[5], w.note) {
			t.Errorf("key age of %s = %q, want as of the period end, flag %q, note with %q", id, r, w.flag, w.note)
		}
	}
}
