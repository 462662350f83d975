package dataplane

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminProbesRefuseOtherMethods: the admin listener's /healthz,
// /readyz and /metrics answered a POST, PUT or DELETE 200 as a GET. Over
// a real socket, GET and HEAD are answered and any other method is 405
// with "Allow: GET, HEAD" and the JSON error shape.
func TestAdminProbesRefuseOtherMethods(t *testing.T) {
	st := startStack(t, nil)
	ln := listenAdmin(t, &Admin{Server: st.srv})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"} {
			req, err := http.NewRequest(m, "http://"+ln.Addr().String()+path, strings.NewReader("x=1"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			resp.Body.Close()
			if m == "GET" || m == "HEAD" {
				if resp.StatusCode != 200 {
					t.Errorf("%s %s = %d %s, want 200", m, path, resp.StatusCode, raw)
				}
				continue
			}
			var body struct {
				Error, Message string
				RequestID      string `json:"request_id"`
			}
			if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" ||
				body.Error != "method_not_allowed" || body.Message == "" || body.RequestID == "" {
				t.Errorf("%s %s = %d Allow %q %q, want 405, Allow GET, HEAD and the JSON error shape",
					m, path, resp.StatusCode, resp.Header.Get("Allow"), raw)
			}
		}
	}
}
