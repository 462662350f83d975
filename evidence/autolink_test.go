package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
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
	st, revokedAt := rig.st, rigRevokedAt
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
	rig.sendLimitedThenRevoked(t, pod, tenant, client, "/v1/users/ftp://attacker-route.example", reqID)
	res, p := rig.pack(t, pod)

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
