package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// End to end, a sidecar refused by each token bucket sends its records to
// a real collector, and audit query reads from the collector's store
// which limit refused each 429: acme-hris past its own limit (key),
// globex past its tenant-wide limit (tenant), acme-admin's exports past
// the bulk class's (class). Before, all three read rate_limited alone.
func TestSidecarRefusalLimitReachesCollector(t *testing.T) {
	dir, intake, tokenFile := startIntake(t, "limit-audit-token-0123456789abcdef0123")
	policy := writePolicy(t, "name: Globex Inc\n    limit: {rate: 200/s, burst: 400}", "name: Globex Inc\n    limit: {rate: 1/min, burst: 3}")
	f := runInProcess(t, sidecarFlags{policyFile: policy, collector: intake.URL, tokenFile: tokenFile, spoolDir: t.TempDir()})
	send := func(method, path, apiKey string) int {
		req, _ := http.NewRequest(method, "http://"+f.listen+path, bytes.NewReader(nil))
		req.Header.Set("X-API-Key", apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct{ method, path, key string }{
		{"GET", "/v1/users", hrisKey},       // acme-hris: burst 10
		{"GET", "/v1/reports/1", globexKey}, // globex: burst 3, globex-bi's own 40
		{"POST", "/v1/exports", adminKey},   // bulk: burst 5, acme-admin's own 40
	} {
		refused := false
		for range 20 {
			if send(c.method, c.path, c.key) == 429 {
				refused = true
				break
			}
		}
		if !refused {
			t.Fatalf("%s %s: no 429 in 20 requests", c.method, c.path)
		}
	}
	want := map[string]string{"acme-hris": "key", "globex-bi": "tenant", "acme-admin": "class"}
	pollUntil(t, obsWait, "the three refusals stored by the collector", func() (bool, string) {
		got := map[string]string{}
		collector.QueryRecords(dir, collector.Filter{Decision: "rate_limited"}, func(r *collector.StoredRecord) error {
			got[r.Client] = r.Limit
			return nil
		})
		return len(got) == len(want), strings.Join(mapPairs(got), " ")
	})
	collector.QueryRecords(dir, collector.Filter{}, func(r *collector.StoredRecord) error {
		switch {
		case r.Status == 429 && r.Limit != want[r.Client]:
			t.Errorf("%s's 429 stored with limit %q, want %q", r.Client, r.Limit, want[r.Client])
		case r.Status != 429 && r.Limit != "":
			t.Errorf("%s's %d stored with limit %q, want none", r.Client, r.Status, r.Limit)
		}
		return nil
	})
}

// mapPairs lists m as key=value.
func mapPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}
