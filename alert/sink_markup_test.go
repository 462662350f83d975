package alert

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileAlert is an alert whose text fields come from outside: an
// Alertmanager payload (any holder of a collector token) names the rule,
// the fingerprint and the tenant label; a sender names a record's source.
func hostileAlert() *Alert {
	const evil = "x\r\n```\n@security-team <!channel> [click|https://evil.example] ![t](https://evil.example/t.png) {noformat}{html}<b>\u202egnp.exe\x1b[31m"
	return &Alert{ID: "alert-20261201T090000Z-0a1b2c3d", Rule: "alertmanager:" + evil + strings.Repeat(" long", 40), Kind: "alertmanager", Severity: "high",
		Group: "fingerprint", Key: evil, Tenant: evil, Count: 1}
}

// TestTicketPayloadsNeutraliseMarkup: text from outside reaches a ticket
// as text. The GitHub body's code fence is longer than any backtick run in
// it (CommonMark), Jira's description is one {noformat} block, Slack's
// text has &, < and > escaped (its mrkdwn would otherwise ping the
// channel and show links), and no control or bidirectional character
// reaches any sink. The services are loopback stand-ins parsing the
// published wire formats.
func TestTicketPayloadsNeutraliseMarkup(t *testing.T) {
	t.Parallel()
	a := hostileAlert()
	var mu sync.Mutex
	got := map[string]map[string]any{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("%s: body is not JSON: %v", r.URL.Path, err)
		}
		mu.Lock()
		got[strings.Trim(r.URL.Path, "/")] = body
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	for _, kind := range []string{"jira", "github", "servicenow", "slack", "webhook"} {
		s := &Sink{Name: kind, Kind: kind, URL: srv.URL + "/" + kind, Project: "SEC", secret: []byte("tok")}
		if _, err := s.deliver(srv.Client(), a, time.Now()); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	for kind, body := range got {
		if kind == "webhook" {
			continue // JSON for a program, not markup: the alert as it is
		}
		raw, _ := json.Marshal(body)
		var strs []string
		collectStrings(body, &strs)
		for _, s := range strs {
			for _, c := range s {
				if c < 0x20 && c != '\n' || c >= 0x7f && c < 0xa0 || c >= 0x202a && c <= 0x202e || c >= 0x2066 && c <= 0x2069 {
					t.Errorf("%s: control or bidi character %U in %q", kind, c, s)
				}
			}
		}
		switch kind {
		case "github":
			b, _ := body["body"].(string)
			fence := b[:strings.IndexByte(b, '\n')]
			inner := strings.TrimSuffix(strings.TrimPrefix(b, fence+"\n"), fence+"\n")
			if strings.Trim(fence, "`") != "" || len(fence) < 3 || strings.Contains(inner, fence) || !strings.HasSuffix(b, "\n"+fence+"\n") {
				t.Errorf("github body's fence %q does not hold its text:\n%s", fence, b)
			}
		case "jira":
			f, _ := body["fields"].(map[string]any)
			if sum, _ := f["summary"].(string); len([]rune(sum)) > 255 {
				t.Errorf("jira summary of %d characters; Jira refuses more than 255", len([]rune(sum)))
			}
			if ls, _ := f["labels"].([]any); len(ls) < 2 || strings.ContainsAny(ls[1].(string), " \n") {
				t.Errorf("jira labels %v: Jira refuses a label with a space", ls)
			}
			d, _ := f["description"].(string)
			inner := strings.TrimSuffix(strings.TrimPrefix(d, "{noformat}\n"), "{noformat}")
			if !strings.HasPrefix(d, "{noformat}\n") || !strings.HasSuffix(d, "{noformat}") || strings.Contains(strings.ToLower(inner), "{noformat") {
				t.Errorf("jira description is not one {noformat} block:\n%s", d)
			}
		case "slack":
			for _, s := range strs {
				if strings.ContainsAny(s, "<>") {
					t.Errorf("slack text %q holds < or >: mrkdwn links and mentions", s)
				}
			}
		}
		if strings.Contains(string(raw), "\\u001b") {
			t.Errorf("%s: escape character in %s", kind, raw)
		}
	}
}

func collectStrings(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
	case map[string]any:
		for _, x := range v {
			collectStrings(x, out)
		}
	case []any:
		for _, x := range v {
			collectStrings(x, out)
		}
	}
}

// TestAlertTextPlain: alerts show and list print outside text without a
// control character (a terminal escape) or a line of its own.
func TestAlertTextPlain(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	a := hostileAlert()
	WriteText(&b, a)
	WriteTable(&b, []Alert{*a})
	if strings.ContainsAny(b.String(), "\x1b\r\u202e") {
		t.Errorf("alert text holds control characters: %q", b.String())
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "```") || strings.HasPrefix(l, "@security-team") {
			t.Errorf("a field started a line: %q", l)
		}
	}
}

// TestReportEnforcementPlain: incident report printed a denial's pod (the
// batch's instance id, the sender's choice) and request id (the client's)
// as they were: an escape or a newline in them forged the report's lines.
func TestReportEnforcementPlain(t *testing.T) {
	t.Parallel()
	const hostile = "x\x1b[2J\n- forged-line"
	r := &Report{Alert: *hostileAlert(), Enforcement: []Enforced{{Pod: hostile, Sender: hostile, RequestID: hostile, Decision: "suspended"}}}
	var b strings.Builder
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || strings.Contains(b.String(), "\n- forged-line") {
		t.Errorf("report holds the hostile text as it was:\n%q", b.String())
	}
}

// TestJiraCloseCommentNeutralisesMarkup: the Jira comment that closes a
// ticket carried the closure's note and corrective action as wiki markup,
// unlike every other ticket text: a note quoting what it closed (a user
// agent, a path) rendered its links, images (fetched by every viewer's
// browser) and mentions. The comment is now one {noformat} block, as the
// description is. The service is a loopback stand-in reading Jira's
// published wire format (POST .../issue/{key}/comment, {"body": ...}).
func TestJiraCloseCommentNeutralisesMarkup(t *testing.T) {
	t.Parallel()
	a := hostileAlert()
	a.Note = "false positive: UA was !https://evil.example/t.png! [click|https://evil.example] [~admin] {noformat}"
	a.CorrectiveAction = "{NOFORMAT}{html}<b>x</b>"
	var got map[string]string
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("comment body is not JSON: %v", err)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	s := &Sink{Name: "jira", Kind: "jira", URL: srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("u:p")}
	if err := s.closeTicket(srv.Client(), a, "SEC-7", time.Now()); err != nil {
		t.Fatal(err)
	}
	if path != "/rest/api/2/issue/SEC-7/comment" {
		t.Errorf("comment posted to %q", path)
	}
	body := got["body"]
	inner := strings.TrimSuffix(strings.TrimPrefix(body, "{noformat}\n"), "\n{noformat}")
	if !strings.HasPrefix(body, "{noformat}\n") || !strings.HasSuffix(body, "\n{noformat}") || strings.Contains(strings.ToLower(inner), "{noformat") {
		t.Errorf("jira close comment is not one {noformat} block:\n%s", body)
	}
	if !strings.Contains(body, "false positive") {
		t.Errorf("jira close comment lost the note:\n%s", body)
	}
}

// The ticket key to close came from the ticket system's answer (or a
// generic receiver's "ticket" field) and went into the URL's path as it
// was: a hostile or broken answer such as "../../admin?x=" moved the
// closing request elsewhere on the sink's host, with the sink's
// credentials. A key that is not one plain path segment is now refused,
// and nothing is sent.
func TestCloseRefusesTicketKeyOutsideOnePathSegment(t *testing.T) {
	t.Parallel()
	var paths []string // written by the handler, read after each close returned
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	for kind, keys := range map[string][]string{
		"jira":       {"../../admin?x=", "SEC-7/../../x", "..", "SEC 7", "SEC-7%2f.."},
		"github":     {"#../../collaborators", "#1?x=y"},
		"servicenow": {"INC1/abc?sysparm=x", "INC1/..", "INC1/"},
	} {
		s := &Sink{Name: kind, Kind: kind, URL: srv.URL + "/api/" + kind, Project: "SEC", secret: []byte("u:p")}
		for _, key := range keys {
			err := s.closeTicket(srv.Client(), hostileAlert(), key, time.Now())
			if err == nil || !strings.Contains(err.Error(), "path segment") {
				t.Errorf("%s close of ticket %q: %v, want a refusal naming the key", kind, key, err)
			}
		}
	}
	if len(paths) != 0 {
		t.Errorf("requests sent for refused keys: %q", paths)
	}
	s := &Sink{Name: "jira", Kind: "jira", URL: srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("u:p")}
	if err := s.closeTicket(srv.Client(), hostileAlert(), "SEC-7", time.Now()); err != nil || len(paths) != 1 || paths[0] != "/rest/api/2/issue/SEC-7/comment" {
		t.Errorf("close of SEC-7: %v, paths %q", err, paths)
	}
}
