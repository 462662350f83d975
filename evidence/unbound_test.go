package evidence

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// The throttling CSV's tenant shares say which part of a tenant's count
// came from senders bound to no tenant, whose records' tenant is their
// claim alone: records sent over loopback to a real collector by a sender
// bound to acme and by an unbound one; the pack marks the unbound one's
// part of each tenant (tenant_share_unbound_senders), and not the bound
// one's.
func TestPackMarksUnboundSenders(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const bound, shared = "acme-sidecar-token-0123456789abcdef012", "shared-sidecar-token-0123456789abcdef0"
	col, err := collector.New(st, collector.Config{Tokens: []collector.SenderToken{
		{Name: "acme", Token: bound, Tenants: []string{"acme"}}, {Name: "shared", Token: shared}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	now := time.Now()
	send := func(token, id string, tenants ...string) {
		recs := make([]audit.Record, len(tenants))
		for i, tn := range tenants {
			recs[i].Time, recs[i].Tenant, recs[i].Status = now.UnixNano(), tn, 200
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs",
			bytes.NewReader(audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: "i"}, id, recs...)))
		req.Header.Set("Content-Type", collector.FormatProtobuf)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("batch %s: status %d", id, resp.StatusCode)
		}
	}
	send(bound, "a-1", "acme", "acme", "acme")
	send(shared, "s-1", "acme", "acme", "globex", "globex", "globex", "globex")
	srv.Close()
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
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
	for _, r := range readCSV(t, files[0])[1:] {
		if r[0] == "tenant_share" || r[0] == "tenant_share_unbound_senders" {
			got[r[0]+" "+r[2]] = r[4] + " " + r[12]
		}
	}
	want := map[string]string{"tenant_share acme": "5 55.6", "tenant_share globex": "4 44.4",
		"tenant_share_unbound_senders acme": "2 40.0", "tenant_share_unbound_senders globex": "4 100.0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tenant shares %v, want %v", got, want)
	}
}
