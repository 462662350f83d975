package collector

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProbesRefuseOtherMethods: /metrics, /healthz and /readyz, on the
// intake listener and on --metrics-listen's, answer GET and HEAD only.
// A POST, PUT or DELETE was answered 200 as a GET; it is now 405 with
// "Allow: GET, HEAD" and the JSON error shape. On the intake, /metrics
// still asks a sender's credential first.
func TestProbesRefuseOtherMethods(t *testing.T) {
	t.Parallel()
	st := openTestStore(t, t.TempDir(), newTestKey(t), StoreConfig{}, 0, 1)
	col, err := New(st, Config{Tokens: []SenderToken{{Name: "alice", Token: aliceToken}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(col)
	srv.Config = col.HTTPServer()
	srv.Start()
	defer srv.Close()
	mon := httptest.NewServer(col.MetricsHandler())
	defer mon.Close()
	send := func(method, url, token string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader("x=1"))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, base := range []string{srv.URL, mon.URL} {
		for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
			for _, m := range []string{"GET", "HEAD"} {
				if resp, body := send(m, base+path, aliceToken); resp.StatusCode != http.StatusOK {
					t.Errorf("%s %s%s = %d %s, want 200", m, base, path, resp.StatusCode, body)
				}
			}
			for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
				resp, body := send(m, base+path, aliceToken)
				var e struct {
					Error     string `json:"error"`
					Message   string `json:"message"`
					RequestID string `json:"request_id"`
				}
				err := json.Unmarshal([]byte(body), &e)
				if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" ||
					err != nil || e.Error != "method_not_allowed" || e.Message == "" || e.RequestID == "" {
					t.Errorf("%s %s%s = %d Allow %q %s, want 405, Allow GET, HEAD and the JSON error shape",
						m, base, path, resp.StatusCode, resp.Header.Get("Allow"), body)
				}
			}
		}
	}
	if resp, body := send("POST", srv.URL+"/metrics", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /metrics on the intake without a credential = %d %s, want 401", resp.StatusCode, body)
	}
}
