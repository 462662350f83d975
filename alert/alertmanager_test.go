package alert

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// amBody is an Alertmanager version 4 webhook body as Alertmanager sends it
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
func amBody(status, version string) string {
	return `{"version":"` + version + `","groupKey":"{}:{alertname=\"TenantNoisyNeighbour\"}","truncatedAlerts":0,"status":"` + status + `",
"receiver":"portcullis","groupLabels":{"alertname":"TenantNoisyNeighbour"},"commonLabels":{"alertname":"TenantNoisyNeighbour"},
"commonAnnotations":{},"externalURL":"http://alertmanager:9093","alerts":[{"status":"` + status + `",
"labels":{"alertname":"TenantNoisyNeighbour","tenant":"acme","severity":"warning"},"annotations":{"summary":"acme holds its concurrency cap"},
"startsAt":"2026-12-01T09:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"c0ffee1234567890"}]}`
}

func TestAlertmanagerWebhook(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	srv := httptest.NewServer(AlertmanagerHandler(r.eng, []string{"collector-token-0123456789abcdef0123"}))
	defer srv.Close()
	post := func(token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/alertmanager", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const tok = "collector-token-0123456789abcdef0123"
	for _, c := range []struct {
		token, body string
		want        int
	}{
		{"wrong", amBody("firing", "4"), 401},
		{tok, amBody("firing", "3"), 400},
		{tok, `{"version":"4","alerts":[{"status":"firing","labels":{}}]}`, 400},
		{tok, amBody("firing", "4"), 200},
		{tok, amBody("firing", "4"), 200}, // Alertmanager's repeat_interval: the same alert again
		{tok, amBody("resolved", "4"), 200},
	} {
		if got := post(c.token, c.body); got != c.want {
			t.Errorf("POST %.40q with token %q = %d, want %d", c.body, c.token, got, c.want)
		}
	}
	a := wantAlerts(t, r, "alertmanager:TenantNoisyNeighbour", 1)[0]
	if a.Count != 2 || a.Tenant != "acme" || a.Severity != "medium" || a.Key != "c0ffee1234567890" || a.Status != StatusOpen {
		t.Errorf("alert = %+v, want one open alert for acme with count 2", a)
	}
	if len(r.opens) != 1 {
		t.Errorf("OnOpen called %d times, want once (one ticket)", len(r.opens))
	}
}

// FuzzAlertmanager checks that no payload panics the parser or opens an
// alert without a fingerprint and alert name.
func FuzzAlertmanager(f *testing.F) {
	f.Add([]byte(amBody("firing", "4")))
	f.Add([]byte(amBody("resolved", "4")))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"x"},"fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":4}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := e.Alertmanager(body, time.Unix(1_800_000_000, 0))
		if err != nil && n != 0 {
			t.Fatalf("error %v with %d alerts taken", err, n)
		}
		for _, a := range e.Alerts() {
			if a.Key == "" || a.Rule == "alertmanager:" || len(a.Key) > maxLabelBytes || !utf8.ValidString(a.Key) || !utf8.ValidString(a.Tenant) {
				t.Fatalf("alert %+v from %q", a, body)
			}
		}
	})
}
