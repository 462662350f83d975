package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPackPrintsOperatorTextCleared: a store whose lifecycle events hold
// a secret in an operator's free text (a revocation's reason "password
// hunter2", a review's, an approval's note, an alert's closure note and
// corrective action), as a CLI from before it cleared them wrote it, or
// another writer of etcd: the pack printed each as the trail held it, in
// the token lifecycle log, the revocation records, the review records,
// the approval samples and the alert samples. It prints them cleared by
// the CLI's rules (collector.RedactText), and the credential scan still
// names the events that hold them.
func TestPackPrintsOperatorTextCleared(t *testing.T) {
	t.Parallel()
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(d, h int, action, target, actor, ticket, reason string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: at(d, h), Key: "/p/events/" + action + target, Revision: int64(100*d + h), Actor: actor,
			Action: action, Target: target, Ticket: ticket, Reason: reason, Details: raw}
	}
	approval := map[string]string{"client": "acme-admin", "route": "POST /v1/exports/full", "requester": "alice", "max_uses": "1"}
	grant := map[string]string{"approver": "bob", "note": "ok, the token is grantsecret5"}
	for k, v := range approval {
		grant[k] = v
	}
	events := []collector.Event{
		ev(3, 9, "key.revoke", "acmehris1", "alice", "SEC-9", "leaked: password hunter2 in the chat", nil),
		ev(4, 9, "review.sign", "access-2026-Q2", "rita", "api_key=reviewkey9", "scopes kept",
			map[string]string{"kind": "access", "decision": "approved"}),
		ev(5, 9, "approval.request", "apr_1", "alice", "CHG-20", "export; my password is requestword", approval),
		ev(5, 10, "approval.grant", "apr_1", "bob", "CHG-20", "", grant),
		ev(6, 11, "alert.open", "A-1", "collector", "", "", map[string]string{"rule": "acme-429", "kind": "rate_limit_spike",
			"severity": "high", "group": "tenant", "key": "acme", "tenant": "acme", "count": "2", "first_seen": at(6, 9).Format(time.RFC3339Nano)}),
		ev(6, 12, "alert.ticket", "A-1", "collector", "", "", map[string]string{"sink": "jira", "ticket": "SEC-101"}),
		ev(7, 9, "alert.close", "A-1", "erin", "", "closed; secret closesecret3", map[string]string{"corrective_action": "rotated, password: correct horse"}),
	}
	if err := st.AppendEvents(events); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q2")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"hunter2", "reviewkey9", "requestword", "grantsecret5", "closesecret3", "horse"}
	ents, _ := os.ReadDir(res.Dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(res.Dir, e.Name()))
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds %q", e.Name(), s)
			}
		}
	}
	// Printed cleared, not left out.
	for file, want := range map[string]string{
		FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv"):   "leaked: password " + collector.Redacted + " in the chat",
		FileName("APIAbuse", "AlertToTicketSample", p.Name, "md"): `rotated, password: \[REDACTED\]`, // Markdown escapes its brackets
	} {
		b, err := os.ReadFile(filepath.Join(res.Dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", file, want, b)
		}
	}
	scan, _ := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "CredentialScan", p.Name, "md")))
	for _, want := range []string{"Result: FAIL", "| 2026-05-03T09:00:00Z | 309 | \"key.revoke\" | \"acmehris1\" | " + proseSecretName + " |"} {
		if !strings.Contains(string(scan), want) {
			t.Errorf("credential scan lacks %q:\n%s", want, scan)
		}
	}
}
