package alert

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// proseSecrets are secrets written in prose or as a pair, which no
// credential shape finds (credential.Redact keeps them), each with the
// text that carries it and the path it takes to a sink.
var proseSecrets = []struct{ secret, text, path string }{
	{"hunter2", "KeyLeak password hunter2", "an Alertmanager alert's alertname label (the rule, the summary)"},
	{"abc123", "api_key=abc123", "an Alertmanager alert's client label"},
	{"correct horse", "password: correct horse", "an Alertmanager alert's tenant label"},
	{"fpsecret9", "secret=fpsecret9", "an Alertmanager alert's fingerprint (the group's key)"},
	{"swordfish42", "seen; the caller pasted password is swordfish42 in chat", "an ack's reason (alerts ack --reason)"},
	{"tiger-lily-7", "contained; token: tiger-lily-7", "a containment's reason"},
	{"opensesame5", "the client wrote passwd opensesame5 as its request id", "a closure's note (alerts close --note)"},
	{"zzsecret31", "rotated the key; old api_key=zzsecret31", "a closure's corrective action"},
}

// TestSinksRedactSecretsInProse: an Alertmanager alert whose labels and
// fingerprint hold a secret in prose or as a pair, and alerts acked,
// contained and closed with reasons and notes that quote one, are filed
// and closed at every sink kind: no sink receives a secret, each gets
// [REDACTED] in its place. Before, the sinks used credential.Redact
// alone, which finds credentials by their shape, and each secret reached
// the wire as written.
func TestSinksRedactSecretsInProse(t *testing.T) {
	t.Parallel()
	servers := map[string]*sinkServer{}
	var sinks []*Sink
	for _, kind := range []string{"webhook", "jira", "github", "servicenow", "slack"} {
		s := newSinkServer(t, kind, nil)
		servers[kind] = s
		sinks = append(sinks, &Sink{Name: kind, Kind: kind, URL: s.srv.URL + "/in", Project: "SEC", secret: []byte("bot@example.com:sink-token")})
	}
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	r.eng.cfg.OnClose = func(a Alert) { box.Load().EnqueueClose(a) }
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, Client: http.DefaultClient, RuleSink: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)

	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	client := wantAlerts(t, r, "token-guessing-client", 1)[0]
	am := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"` + proseSecrets[0].text +
		`","client":"` + proseSecrets[1].text + `","tenant":"` + proseSecrets[2].text + `","severity":"critical"},"fingerprint":"` +
		proseSecrets[3].text + `"}]}`
	postAlertmanager(t, r.eng, am)
	var amAlert Alert
	for _, a := range r.eng.Alerts() {
		if a.Kind == "alertmanager" {
			amAlert = a
		}
	}
	if amAlert.ID == "" {
		t.Fatal("the Alertmanager alert did not open")
	}
	ctx := context.Background()
	o.deliverDue(ctx)
	for _, a := range []Alert{client, amAlert} {
		r.event(lifecycle(t0.Add(time.Hour), ActionAck, a.ID, "alice", proseSecrets[4].text, nil),
			lifecycle(t0.Add(time.Hour+time.Minute), ActionContain, a.ID, "alice", proseSecrets[5].text, map[string]string{"senders": "token:fleet"}),
			lifecycle(t0.Add(2*time.Hour), ActionClose, a.ID, "alice", proseSecrets[6].text,
				map[string]string{"corrective_action": proseSecrets[7].text}))
	}
	o.deliverDue(ctx)

	for name, s := range servers {
		got := s.received()
		if len(s.got) != 4 { // two alerts filed, two closures
			t.Errorf("%s received %d requests, want 4:\n%s", name, len(s.got), got)
		}
		for _, p := range proseSecrets {
			if bytes.Contains(got, []byte(p.secret)) {
				t.Errorf("%s received %q from %s", name, p.secret, p.path)
			}
		}
		if !bytes.Contains(got, []byte(collector.Redacted)) {
			t.Errorf("%s received no %s:\n%s", name, collector.Redacted, got)
		}
	}
	// The webhook gets the closed alert whole, its history's reasons too.
	wh := string(servers["webhook"].received())
	for _, want := range []string{"password is " + collector.Redacted + " in chat", "old api_key=" + collector.Redacted, `"count":25`,
		`"senders":"token:fleet"`} { // the collector's name of a sender, no free text
		if !strings.Contains(wh, want) {
			t.Errorf("the webhook received no %q:\n%s", want, wh)
		}
	}
}

// postAlertmanager posts body to eng's Alertmanager webhook over
// loopback, as Alertmanager does, and fails t unless it is taken.
func postAlertmanager(t *testing.T, eng *Engine, body string) {
	t.Helper()
	srv := httptest.NewServer(AlertmanagerHandler(eng, []string{"collector-token-0123456789abcdef0123"}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/alertmanager", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer collector-token-0123456789abcdef0123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alertmanager webhook answered %d", resp.StatusCode)
	}
}

// TestIncidentReportRedactsSecretsInProse: the incident report of an
// alert acked, contained and closed with reasons and notes quoting a
// secret in prose or as a pair holds none of them. Before, it used
// credential.Redact alone and printed each as written.
func TestIncidentReportRedactsSecretsInProse(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	r.event(lifecycle(t0.Add(time.Hour), ActionAck, a.ID, "alice", proseSecrets[4].text, nil),
		lifecycle(t0.Add(time.Hour+time.Minute), ActionContain, a.ID, "alice", proseSecrets[5].text, nil),
		lifecycle(t0.Add(2*time.Hour), ActionClose, a.ID, "alice", proseSecrets[6].text,
			map[string]string{"corrective_action": proseSecrets[7].text}))
	rep, err := BuildReport(r.dir, a.ID, r.doc)
	if err != nil {
		t.Fatal(err)
	}
	rep.Containment = append(rep.Containment, ContainmentChange{Event: collector.Event{Time: t0.Add(time.Hour), Action: "client.suspend", Target: "acme-hris",
		Actor: "alice", Reason: proseSecrets[2].text}})
	rep.Assessment = &Assessment{Client: "acme-hris", Routes: map[string]int64{"GET /login?" + proseSecrets[1].text: 1}}
	// A sender is the collector's name ("token:fleet"), kept as it is.
	rep.Enforcement = []Enforced{{Pod: "pod-a", Sender: "token:fleet", RequestID: "denied-1"}}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, p := range proseSecrets[1:] {
		if p.secret != "fpsecret9" && strings.Contains(b.String(), p.secret) {
			t.Errorf("the incident report holds %q:\n%s", p.secret, b.String())
		}
	}
	for _, want := range []string{a.ID, "pod-a (sender token:fleet)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the incident report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestFoldUpdateRedactsSecretsInProse: the update each ticket system
// gets as a folded alert grows (a Jira or GitHub comment, a ServiceNow
// work note) carries the alert's text: the groups folded (Alertmanager
// fingerprints, an outsider's to write) and its history's reasons. None
// holds a secret written in prose or as a pair; before, each reached the
// ticket as written.
func TestFoldUpdateRedactsSecretsInProse(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a := &Alert{ID: "alert-20261201T090000Z-0a1b2c3d", Rule: "alertmanager:" + proseSecrets[0].text, Kind: "alertmanager", Severity: "high",
		Group: "fingerprint", Key: foldKey, Tenant: proseSecrets[2].text, Client: proseSecrets[1].text, Count: 300, Folded: 200,
		FoldedKeys: []string{"fp00001", proseSecrets[3].text}}
	a.History = append(a.History, Change{Time: at, Action: ActionAck, Actor: "alice", Reason: proseSecrets[4].text})
	for _, s := range []struct{ kind, field, path, key string }{
		{"jira", "body", "/rest/api/2/issue", "SEC-1"},
		{"github", "body", "/repos/acme/sec/issues", "#12"},
		{"servicenow", "work_notes", "/api/now/table/incident", "INC0010001/9d385017c611228701d22104cc95c371"},
	} {
		srv, got := fieldServer(t, s.field, func(string) int { return http.StatusOK })
		sink := &Sink{Name: s.kind, Kind: s.kind, URL: srv.URL + s.path, Project: "SEC", secret: []byte("u:p")}
		if err := sink.tellFold(srv.Client(), a, s.key, 1, at.Add(time.Hour)); err != nil {
			t.Fatalf("%s: %v", s.kind, err)
		}
		notes := strings.Join(got(), "\n")
		if notes == "" {
			t.Errorf("%s took no update", s.kind)
		}
		for _, p := range proseSecrets[:5] {
			if strings.Contains(notes, p.secret) {
				t.Errorf("%s's update holds %q from %s", s.kind, p.secret, p.path)
			}
		}
	}
}
