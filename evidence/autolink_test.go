package evidence

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// gfmAutolinks finds, in the text a Markdown renderer sees (backslash
// escapes undone: cmark-gfm joins an escaped character to the text
// around it before it looks for links), what GFM's extended autolinks
// make a link of: a URL of scheme http://, https:// (and ftp://, which
// cmark-gfm links too), a "www." at a word's start (the spec: at a
// line's start, after a space or one of *_~(; any character but a
// letter, digit or "-" here) and a bare e-mail address (local part of
// letters, digits and .+_-, an "@", a domain with a period), which
// mailto: and xmpp: links need.
var gfmAutolinks = regexp.MustCompile(`(?i)(?:https?|ftp)://[^\s<]*|(?:^|[^a-z0-9-])www\.[^\s<]*|[a-z0-9.+_-]+@[a-z0-9_-]+(?:\.[a-z0-9_-]+)+`)

// mdUnescape undoes Markdown's backslash escapes of ASCII punctuation.
var mdUnescape = regexp.MustCompile("\\\\([!-/:-@\\[-`{-~])")

// TestPackMarkdownMakesNoLinkOfSenderText: a sender (anyone holding a
// sender token) names the pod, tenant, client, route and request id of
// its records, and an Alertmanager payload the alert's name. The pack's
// Markdown escaped what makes links in Markdown ([text](url), <url>) but
// left a bare https://..., www.... or name@domain as it came, which a
// GitHub- or GitLab-flavoured renderer makes a link an auditor clicks.
// The batch goes over the collector's real listener with a real token;
// no .md file of the pack holds an autolink of the sender's text, which
// still reads there ("attacker-pod.example"), and the credential scan
// still finds the API key the pod's URL carries.
func TestPackMarkdownMakesNoLinkOfSenderText(t *testing.T) {
	t.Parallel()
	const apiKey = "pk_live_abcdefghijklmnop0123456789"
	rig := newRevokedIntake(t)
	data, out, key, st, srv, revokedAt := rig.data, rig.out, rig.key, rig.st, rig.srv, rigRevokedAt
	const tok = rigToken
	open, _ := json.Marshal(map[string]string{"rule": "alertmanager:Leak http://attacker-alert.example www.attacker-alert.example (www.attacker-alert.example) mallory@attacker-alert.example",
		"kind": "alertmanager", "severity": "high", "group": "fingerprint", "key": "0123abcd", "count": "1",
		"first_seen": revokedAt.Format(time.RFC3339Nano)})
	ticket, _ := json.Marshal(map[string]string{"sink": "jira", "ticket": "SEC-8"})
	if err := st.AppendEvents([]collector.Event{
		{Time: revokedAt, Key: "/p/events/2", Revision: 42, Actor: "collector", Action: "alert.open", Target: "A-1", Details: open},
		{Time: revokedAt.Add(time.Hour), Key: "/p/events/3", Revision: 43, Actor: "collector", Action: "alert.ticket", Target: "A-1", Details: ticket}}); err != nil {
		t.Fatal(err)
	}

	const (
		tenant = "www.attacker-tenant.example"
		client = "https://attacker-client.example/x"
		reqID  = "r-1 WWW.attacker-req.example"
		pod    = "pod-a https://attacker-pod.example/?k=" + apiKey + " www.attacker-pod.example mallory@attacker-pod.example"
	)
	var limited audit.Record
	limited.Time = revokedAt.Add(-time.Hour).UnixNano()
	limited.Status, limited.Decision, limited.Limit = 429, audit.RateLimited, audit.LimitKey
	limited.Tenant, limited.Client, limited.Route = tenant, client, "/v1/users/ftp://attacker-route.example"
	limited.SetMethod([]byte("GET"))
	limited.SetRequestID([]byte(reqID))
	var revoked audit.Record
	revoked.Time = revokedAt.Add(30 * time.Second).UnixNano()
	revoked.Status, revoked.Decision, revoked.Tenant = 401, audit.KeyRevoked, tenant
	revoked.SetMethod([]byte("GET"))
	revoked.SetKeyID([]byte("acmehris1"))
	revoked.SetRequestID([]byte(reqID))
	body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: pod, Pod: pod}, "pod-a-1", limited, revoked)
	req, _ := http.NewRequest(http.MethodPost, rig.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", collector.FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %s", resp.Status)
	}
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
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	members := func(int64) ([]etcdadmin.MemberTrail, []string, error) {
		return []etcdadmin.MemberTrail{{Pod: pod, Versions: []etcdsync.Member{{Pod: pod, Revision: 41, Updated: revokedAt.Add(10 * time.Second)}}}}, nil, nil
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d", Members: members})
	if err != nil {
		t.Fatal(err)
	}

	files, err := filepath.Glob(filepath.Join(res.Dir, "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Markdown file in %s: %v", res.Dir, err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := mdUnescape.ReplaceAllString(string(b), "$1")
		all.WriteString(text)
		for i, line := range strings.Split(text, "\n") {
			for _, m := range gfmAutolinks.FindAllString(line, -1) {
				if strings.Contains(m, "attacker") {
					t.Errorf("%s:%d: a renderer makes a link of the sender's %q: %q", filepath.Base(f), i+1, m, line)
				}
			}
		}
	}
	for _, want := range []string{"attacker-pod.example", "attacker-alert.example"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no Markdown file of the pack holds %q: the test's text did not reach them", want)
		}
	}
	scan, err := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "CredentialScan", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(scan), "| API key |") {
		t.Errorf("the credential scan does not find the API key in the sender's text:\n%s", scan)
	}
}
