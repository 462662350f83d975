package alert

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSinkWireFormats sends an alert to stand-ins for Jira, GitHub,
// ServiceNow and Slack on loopback (the real services cannot be reached
// from the test machine, so this is the one place with fakes). Each
// stand-in checks the request against the service's published wire
// format, as documented:
//   - Jira REST API v2 "Create issue", POST /rest/api/2/issue: fields.project.key,
//     fields.summary, fields.issuetype.name; answers 201 {"id","key","self"};
//   - GitHub REST "Create an issue", POST /repos/{owner}/{repo}/issues: title
//     (required), body, labels; Accept application/vnd.github+json,
//     X-GitHub-Api-Version; answers 201 {"number","html_url",...};
//   - ServiceNow Table API, POST /api/now/table/incident: short_description,
//     urgency, impact, assignment_group; answers 201 {"result":{"number","sys_id"}};
//   - Slack incoming webhook: POST {"text", "blocks"}; answers 200 "ok".
//
// and the ticket key each answer names is the one stored.
func TestSinkWireFormats(t *testing.T) {
	t.Parallel()
	a := &Alert{ID: "alert-20261201T090000Z-0a1b2c3d", Rule: "token-guessing-client", Kind: KindAuthFailures, Severity: "high",
		Group: "client", Key: "acme-hris", Client: "acme-hris", Count: 25, RequestIDs: []string{"req-1"}}
	tests := []struct {
		kind, path, secret, project string
		check                       func(t *testing.T, h http.Header, body map[string]any)
		status                      int
		answer                      string
		wantKey                     string
	}{
		{"jira", "/rest/api/2/issue", "bot@example.com:api-token", "SEC", func(t *testing.T, h http.Header, b map[string]any) {
			f, _ := b["fields"].(map[string]any)
			if proj, _ := f["project"].(map[string]any); proj["key"] != "SEC" {
				t.Errorf("jira fields.project.key = %v, want SEC", proj)
			}
			if it, _ := f["issuetype"].(map[string]any); it["name"] == "" || it["name"] == nil {
				t.Errorf("jira fields.issuetype.name missing")
			}
			if s, _ := f["summary"].(string); !strings.Contains(s, "token-guessing-client") {
				t.Errorf("jira fields.summary = %q", s)
			}
			if !strings.HasPrefix(h.Get("Authorization"), "Basic ") {
				t.Errorf("jira Authorization %q, want Basic", h.Get("Authorization"))
			}
		}, 201, `{"id":"10000","key":"SEC-24","self":"https://jira.example/rest/api/2/issue/10000"}`, "SEC-24"},
		{"github", "/repos/acme/secops/issues", "ghp_token", "", func(t *testing.T, h http.Header, b map[string]any) {
			if s, _ := b["title"].(string); s == "" {
				t.Error("github title missing")
			}
			if _, ok := b["labels"].([]any); !ok {
				t.Error("github labels not an array")
			}
			if h.Get("Accept") != "application/vnd.github+json" || h.Get("X-GitHub-Api-Version") == "" || h.Get("Authorization") != "Bearer ghp_token" {
				t.Errorf("github headers %v", h)
			}
		}, 201, `{"id":1,"number":1347,"html_url":"https://github.com/acme/secops/issues/1347","state":"open"}`, "#1347"},
		{"servicenow", "/api/now/table/incident", "svc:pw", "Security Ops", func(t *testing.T, h http.Header, b map[string]any) {
			if b["short_description"] == nil || b["urgency"] != "1" || b["impact"] != "1" || b["assignment_group"] != "Security Ops" {
				t.Errorf("servicenow body %v", b)
			}
		}, 201, `{"result":{"number":"INC0010001","sys_id":"9d385017c611228701d22104cc95c371"}}`, "INC0010001/9d385017c611228701d22104cc95c371"},
		{"slack", "/services/T000/B000/XXXX", "", "", func(t *testing.T, h http.Header, b map[string]any) {
			if s, _ := b["text"].(string); s == "" {
				t.Error("slack text missing")
			}
			blocks, _ := b["blocks"].([]any)
			if len(blocks) == 0 || blocks[0].(map[string]any)["type"] != "section" {
				t.Errorf("slack blocks %v", b["blocks"])
			}
		}, 200, "ok", a.ID + ".slack"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != tt.path || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s %s (%s), want POST %s application/json", r.Method, r.URL.Path, r.Header.Get("Content-Type"), tt.path)
				}
				raw, _ := io.ReadAll(r.Body)
				var body map[string]any
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Errorf("body is not a JSON object: %v", err)
				}
				tt.check(t, r.Header, body)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			s := &Sink{Name: tt.kind, Kind: tt.kind, URL: srv.URL + tt.path, Project: tt.project, secret: []byte(tt.secret)}
			key, err := s.deliver(srv.Client(), a, time.Now())
			if err != nil || key != tt.wantKey {
				t.Errorf("deliver = %q, %v; want %q", key, err, tt.wantKey)
			}
		})
	}
}

// TestSinkCloseWireFormats checks the closure requests against the same
// published formats: Jira "Add comment" (POST /rest/api/2/issue/{key}/comment,
// {"body"}), GitHub "Update an issue" (PATCH /repos/{owner}/{repo}/issues/{number},
// {"state":"closed","state_reason":"completed"}), ServiceNow Table API
// "Modify a record" (PATCH /api/now/table/incident/{sys_id}, the sys_id kept
// from the create answer, with state 7 Closed, close_code and close_notes),
// a Slack message; and that a ServiceNow key without a sys_id (filed
// before keys kept it) is not asked. The services are loopback stand-ins
// checking the published wire format, not the real services.
func TestSinkCloseWireFormats(t *testing.T) {
	t.Parallel()
	a := &Alert{ID: "alert-x", Rule: "r", Note: "done", CorrectiveAction: "rotated"}
	tests := []struct{ kind, base, key, method, path, field, want string }{
		{"jira", "/rest/api/2/issue", "SEC-24", "POST", "/rest/api/2/issue/SEC-24/comment", "body", "{noformat}\nAlert alert-x closed by portcullis: done (corrective action: rotated)\n{noformat}"},
		{"github", "/repos/acme/secops/issues", "#1347", "PATCH", "/repos/acme/secops/issues/1347", "state", "closed"},
		{"servicenow", "/api/now/table/incident", "INC0010001/9d385017c611228701d22104cc95c371", "PATCH",
			"/api/now/table/incident/9d385017c611228701d22104cc95c371", "close_notes", "Alert alert-x closed by portcullis: done (corrective action: rotated)"},
		{"slack", "/services/T000/B000/XXXX", "alert-x.slack", "POST", "/services/T000/B000/XXXX", "text", "Alert alert-x closed by portcullis: done (corrective action: rotated)"},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			if r.Method != tt.method || r.URL.Path != tt.path || body[tt.field] != tt.want {
				t.Errorf("%s: %s %s %v, want %s %s with %s %q", tt.kind, r.Method, r.URL.Path, body, tt.method, tt.path, tt.field, tt.want)
			}
			if tt.kind == "github" && body["state_reason"] != "completed" {
				t.Errorf("github state_reason %q, want completed", body["state_reason"])
			}
			if tt.kind == "servicenow" && (body["state"] != "7" || body["close_code"] == "" || r.Header.Get("Accept") != "application/json" ||
				!strings.HasPrefix(r.Header.Get("Authorization"), "Basic ")) {
				t.Errorf("servicenow close %v %v, want state 7 (Closed), a close_code, Accept application/json, Basic auth", body, r.Header)
			}
			if tt.kind == "servicenow" {
				io.WriteString(w, `{"result":{"number":"INC0010001","sys_id":"9d385017c611228701d22104cc95c371","state":"7"}}`)
			}
		}))
		s := &Sink{Name: tt.kind, Kind: tt.kind, URL: srv.URL + tt.base, secret: []byte("tok")}
		if tt.kind == "servicenow" {
			s.secret = []byte("svc:pw")
		}
		if err := s.closeTicket(srv.Client(), a, tt.key, time.Now()); err != nil {
			t.Errorf("%s: %v", tt.kind, err)
		}
		srv.Close()
	}
	snow := &Sink{Kind: "servicenow"}
	if !snow.closes("INC0010001/9d385017c611228701d22104cc95c371") || snow.closes("INC0010001") {
		t.Error("servicenow closes: want true with a sys_id in the key, false without")
	}
}
