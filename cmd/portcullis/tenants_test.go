package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestTenantsTop runs portcullis tenants top as a process on a real store
// written by the collector's code: acme sends 3 requests (1 throttled),
// globex 2 (both throttled, 500 bytes); a record of the day before is out
// of the period.
func TestTenantsTop(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	st := auditStore(t, data)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := func(tenant string, status, bytes int64, at time.Time) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: tenant, Route: "/v1/users", Status: status, Decision: "allowed", BytesOut: bytes}
	}
	recs := []collector.StoredRecord{r("acme", 200, 0, at), r("acme", 200, 0, at), r("acme", 429, 0, at),
		r("globex", 429, 250, at), r("globex", 429, 250, at), r("globex", 200, 9999, at.Add(-24*time.Hour))}
	if err := st.AppendBatch(&collector.Batch{ID: "t1", Sender: "token:sidecar", Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	res := portcullis(t, "", nil, "tenants", "top", "--data", data, "--from", "2026-12-01", "--to", "2026-12-02")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if res.code != 0 || len(lines) != 4 {
		t.Fatalf("tenants top: exit %d, stdout\n%s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	for i, want := range []string{"acme 3 60.0% 1 33.3% 0 0.0% 3 unnamed=1", "globex 2 40.0% 2 66.7% 500 100.0% 2 unnamed=2"} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want {
			t.Errorf("row %d = %q, want %q", i+1, got, want)
		}
	}
	if !strings.HasPrefix(lines[3], "2 tenants (2 shown, by requests") || !strings.Contains(lines[3], "5 requests, 3 throttled, 500 bytes out") {
		t.Errorf("totals line %q", lines[3])
	}

	res = portcullis(t, "", nil, "tenants", "top", "--data", data, "--from", "2026-12-01", "--to", "2026-12-02", "--by", "bytes", "--format", "json")
	var rep collector.TenantReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || res.code != 0 {
		t.Fatalf("--format json: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	if rep.Requests != 5 || len(rep.Tenants) != 2 || rep.Tenants[0].Tenant != "globex" || rep.Tenants[0].BytesShare != 100 {
		t.Errorf("json report %+v, want 5 requests, globex first with all the bytes", rep)
	}

	// A period without records: "top" is an empty list, not null.
	res = portcullis(t, "", nil, "tenants", "top", "--data", data, "--from", "2020-01-01", "--to", "2020-01-02", "--format", "json")
	if res.code != 0 || !strings.Contains(res.stdout, `"top": []`) {
		t.Errorf("tenants top of an empty period --format json: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// Usage errors of tenants top are one line naming the flag and the fix,
// with exit 2.
func TestTenantsTopUsage(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tenants", "top"}, "--data is required; name the collector's data directory"},
		{[]string{"tenants", "top", "--data", data, "--by", "latency"}, "--by latency: want requests, throttled or bytes"},
		{[]string{"tenants", "top", "--data", data, "--format", "ocsf"}, "--format ocsf: want table or json"},
		{[]string{"tenants", "top", "--data", data, "--from", "yesterday"}, "--from yesterday: want a date"},
	} {
		res := portcullis(t, "", nil, c.args...)
		if res.code != 2 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, res.code, res.stderr, c.want)
		}
	}
}
