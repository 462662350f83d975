package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// A client certificate refused at the TLS handshake is recorded with no
// HTTP status (decision cert_revoked, status 0). Records sent over
// loopback to a real collector: every report counts the refusal as a
// refusal before HTTP, never as nothing. The evidence pack's daily chart
// has a series for it and the throttling CSV a daily_count row of status
// before_http (before, it was in the total and in no column); audit query
// prints before_http, and the OCSF export has no http_response (it wrote
// code 0) but a Failure with the certificate's serial; tenants top and
// the pack's tenant shares do not count them as requests (of tenant "-").
func TestRefusalBeforeHTTPInEveryReport(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const token = "sidecar-token-0123456789abcdef0123456789"
	col, err := collector.New(st, collector.Config{Tokens: []collector.SenderToken{{Name: "s", Token: token}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	now := time.Now()
	recs := make([]audit.Record, 4)
	for i := range recs {
		recs[i].Time, recs[i].Tenant, recs[i].Status, recs[i].Decision = now.UnixNano(), "acme", 200, audit.Allowed
	}
	recs[1].Status, recs[1].Decision = 429, audit.RateLimited
	recs[2].Status, recs[2].Decision, recs[2].Tenant = 0, audit.CertRevoked, ""
	recs[2].SetCertSerial([]byte("0a1b2c"))
	recs[3].Status, recs[3].Decision, recs[3].Tenant = 0, audit.CertCRLExpired, ""
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs",
		bytes.NewReader(audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: "i"}, "i-1", recs...)))
	req.Header.Set("Content-Type", collector.FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("batch: status %d", resp.StatusCode)
	}
	srv.Close()
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	var ocsf, table bytes.Buffer
	if _, err := collector.WriteRecords(&ocsf, data, collector.Filter{}, collector.OutputOCSF); err != nil {
		t.Fatal(err)
	}
	var refusals int
	for _, line := range strings.Split(strings.TrimSpace(ocsf.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("OCSF line %q: %v", line, err)
		}
		um, _ := ev["unmapped"].(map[string]any)
		if d := um["decision"]; d != "cert_revoked" && d != "cert_crl_expired" {
			continue
		}
		refusals++
		if _, ok := ev["http_response"]; ok || ev["status_code"] != nil || ev["status"] != "Failure" {
			t.Errorf("OCSF of a handshake refusal: %s; want a Failure without http_response nor status_code", line)
		}
		if api, _ := ev["api"].(map[string]any); api["response"] != nil {
			t.Errorf("OCSF of a handshake refusal has api.response: %s", line)
		}
		if um["decision"] == "cert_revoked" && um["cert_serial"] != "0a1b2c" {
			t.Errorf("OCSF of a revoked certificate does not name its serial: %s", line)
		}
	}
	if refusals != 2 {
		t.Errorf("OCSF: %d handshake refusals, want 2:\n%s", refusals, ocsf.String())
	}
	if _, err := collector.WriteRecords(&table, data, collector.Filter{}, collector.OutputTable); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(table.String(), " before_http "); got != 2 {
		t.Errorf("audit query table: %d records of status before_http, want 2:\n%s", got, table.String())
	}

	top, err := collector.TopTenants(data, time.Time{}, time.Time{}, collector.ByRequests, 0)
	if err != nil {
		t.Fatal(err)
	}
	if top.Requests != 2 || top.RefusedBeforeHTTP != 2 || top.Count != 1 {
		t.Errorf("tenants top: %d requests of %d tenants, %d refused before HTTP; want 2 of 1 (acme), 2", top.Requests, top.Count, top.RefusedBeforeHTTP)
	}

	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod(fmt.Sprintf("%d-Q%d", now.Year(), (int(now.Month())-1)/3+1))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(res.Dir, "APIRateLimits-ThrottlingSample-*.csv"))
	if len(files) != 1 {
		t.Fatalf("throttling files %v", files)
	}
	got := map[string]string{}
	shares := map[string]string{}
	for _, r := range readCSV(t, files[0])[1:] {
		switch r[0] {
		case "daily_count":
			got[r[3]] = r[4]
		case "tenant_share":
			shares[r[2]] = r[4] + " " + r[12]
		}
	}
	if len(shares) != 1 || shares["acme"] != "2 100.0" {
		t.Errorf("tenant_share rows %v; want acme's 2 requests, 100%% (a handshake refusal is no request)", shares)
	}
	if got["before_http"] != "2" || got["429"] != "1" {
		t.Errorf("daily_count rows by status %v; want before_http 2 and 429 1", got)
	}
	index, err := os.ReadFile(filepath.Join(res.Dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "refused at TLS handshake: 2"; !strings.Contains(string(index), want) {
		t.Errorf("index.html's daily chart has no %q", want)
	}
}
