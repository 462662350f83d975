package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
	"github.com/portcullis/portcullis/policy"
)

// leaked are real credentials of a client that sent them where it should
// not have: a real API key (policy.GenerateKey) and a real HS256 JWT.
type leaked struct{ key, secret, jwt, sig, basic string }

func newLeaked(t *testing.T) leaked {
	t.Helper()
	key, _, err := policy.GenerateKey("acme-hris", "alice", "SEC-1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id, ok := policy.KeyID([]byte(key))
	if !ok {
		t.Fatalf("generated key %q has no id", key)
	}
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"acme-hris","iss":"https://idp.example"}`))
	m := hmac.New(sha256.New, []byte("an-hs256-secret-of-32-bytes-long!"))
	m.Write([]byte(signing))
	sig := enc(m.Sum(nil))
	return leaked{key: key, secret: key[len(policy.KeyPrefix)+len(id)+1:], jwt: signing + "." + sig, sig: sig,
		basic: base64.StdEncoding.EncodeToString([]byte("ci-bot:" + key))}
}

// check fails t if b holds any of the credentials.
func (l leaked) check(t *testing.T, what string, b []byte) {
	t.Helper()
	for name, s := range map[string]string{"API key secret": l.secret, "JWT": l.jwt, "JWT signature": l.sig, "Basic credential": l.basic} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds the %s %q:\n%s", what, name, s, b)
		}
	}
}

// sinkServer is a loopback stand-in for one sink kind speaking its wire
// format (as TestSinkWireFormats checks it), keeping every byte of every
// request it received. The real services cannot be reached from the test
// machine. echo, for Jira, answers a create with the issue key it returns
// for the summary it was sent: the summary itself is a sink echoing the
// request back.
type sinkServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  [][]byte // each request as received, request line, headers and body
	echo func(summary string) string
}

func newSinkServer(t *testing.T, kind string, echo func(string) string) *sinkServer {
	s := &sinkServer{echo: echo}
	var n atomic.Int64
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := httputil.DumpRequest(r, true)
		if err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		s.mu.Lock()
		s.got = append(s.got, raw)
		s.mu.Unlock()
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		create := r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/comment")
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case kind == "jira" && create && s.echo != nil:
			f, _ := body["fields"].(map[string]any)
			summary, _ := f["summary"].(string)
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"key": s.echo(summary)})
		case kind == "jira" && create:
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"id": "1000", "key": "SEC-" + string(rune('0'+i))})
		case kind == "github" && create:
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"number": 1340 + i})
		case kind == "servicenow" && create:
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"result": map[string]string{"number": "INC001000" + string(rune('0'+i)), "sys_id": "9d385017c611228701d22104cc95c37" + string(rune('0'+i))}})
		case kind == "slack":
			io.WriteString(w, "ok")
		default:
			io.WriteString(w, "{}")
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sinkServer) received() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Join(s.got, []byte("\n"))
}

// TestSinksRedactCredentials: a client that put its own API key, a JWT,
// its Bearer and Basic credentials in its X-Request-Id, and an
// Alertmanager alert whose name and labels hold them, have their alerts
// filed and closed (with an operator's note quoting them) at every sink
// kind: no byte any sink received holds a credential, each got
// [REDACTED] in its place, and the alert is otherwise intact (its id, its
// count). Neither the log lines (OnError: a sink echoing the request
// back) nor the ticket keys the trail records hold one.
func TestSinksRedactCredentials(t *testing.T) {
	t.Parallel()
	l := newLeaked(t)
	servers := map[string]*sinkServer{}
	var sinks []*Sink
	for _, kind := range []string{"webhook", "jira", "github", "servicenow", "slack"} {
		s := newSinkServer(t, kind, nil)
		servers[kind] = s
		sinks = append(sinks, &Sink{Name: kind, Kind: kind, URL: s.srv.URL + "/in", Project: "SEC", secret: []byte("bot@example.com:sink-token")})
	}
	echo := newSinkServer(t, "jira", func(summary string) string { return summary })
	servers["jira-echo"] = echo
	sinks = append(sinks, &Sink{Name: "jira-echo", Kind: "jira", URL: echo.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot@example.com:sink-token")})

	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box))
	r.eng.cfg.OnClose = func(a Alert) { box.Load().EnqueueClose(a) }
	var logMu sync.Mutex
	var logged []string
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, Client: http.DefaultClient, RuleSink: map[string]string{},
		OnError: func(err error) { logMu.Lock(); logged = append(logged, err.Error()); logMu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)

	// The client's request ids, as the sidecar records them.
	ids := []string{"req-" + l.key, l.jwt, "Bearer " + l.jwt, "Basic " + l.basic}
	i := 0
	r.send(every(t0, time.Second, 25, failed("acmehris1"), func(rec *collector.StoredRecord) {
		rec.RequestID = ids[i%len(ids)]
		i++
	})...)
	client := wantAlerts(t, r, "token-guessing-client", 1)[0]
	// An Alertmanager alert naming them in its labels and fingerprint.
	am := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"KeyLeak ` + l.key + `","client":"` + l.jwt +
		`","severity":"critical"},"fingerprint":"Bearer ` + l.jwt + `"}]}`
	srv := httptest.NewServer(AlertmanagerHandler(r.eng, []string{"collector-token-0123456789abcdef0123"}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/alertmanager", strings.NewReader(am))
	req.Header.Set("Authorization", "Bearer collector-token-0123456789abcdef0123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alertmanager webhook answered %d", resp.StatusCode)
	}
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
		r.event(lifecycle(t0.Add(time.Hour), ActionClose, a.ID, "alice", "the client sent "+l.key+" as its request id",
			map[string]string{"corrective_action": "revoke " + l.jwt + " and Authorization: Basic " + l.basic}))
	}
	o.deliverDue(ctx)

	for name, s := range servers {
		got := s.received()
		want := 4 // two alerts filed, two closures
		if s.echo != nil {
			want = 2 // a summary is no key to close by: refused, and logged
		}
		if len(s.got) != want {
			t.Errorf("%s received %d requests, want %d:\n%s", name, len(s.got), want, got)
		}
		l.check(t, name+"'s requests", got)
		if !bytes.Contains(got, []byte(credential.Redacted)) {
			t.Errorf("%s received no %s:\n%s", name, credential.Redacted, got)
		}
		for _, id := range []string{client.ID, amAlert.ID} {
			if !bytes.Contains(got, []byte(id)) {
				t.Errorf("%s received nothing naming alert %s", name, id)
			}
		}
	}
	if wh := servers["webhook"].received(); !bytes.Contains(wh, []byte(`"count":25`)) || !bytes.Contains(wh, []byte(`"key_id":"acmehris1"`)) {
		t.Errorf("the webhook's alert lost its count or key:\n%s", wh)
	}
	logMu.Lock()
	lines := strings.Join(logged, "\n")
	logMu.Unlock()
	l.check(t, "the outbox's log lines", []byte(lines))
	if !strings.Contains(lines, "is not one path segment") {
		t.Errorf("the echoed key's refusal was not logged: %q", lines)
	}
	var trail []byte
	for _, ev := range r.trailEvents(ActionTicket) {
		b, _ := json.Marshal(ev)
		trail = append(trail, b...)
	}
	l.check(t, "the ticket keys the trail records", trail)
}

// TestIncidentReportRedactsCredentials: the incident report of an alert
// whose request ids, closure note and containment reason hold a client's
// API key and JWT shows each as [REDACTED].
func TestIncidentReportRedactsCredentials(t *testing.T) {
	t.Parallel()
	l := newLeaked(t)
	r := newRig(t, examplePolicy(t))
	ids := []string{"req-" + l.key, l.jwt}
	i := 0
	r.send(every(t0, time.Second, 25, failed("acmehris1"), func(rec *collector.StoredRecord) {
		rec.RequestID = ids[i%len(ids)]
		i++
	})...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	r.event(lifecycle(t0.Add(time.Hour), ActionClose, a.ID, "alice", "the client sent "+l.key,
		map[string]string{"corrective_action": "revoke Bearer " + l.jwt}))
	rep, err := BuildReport(r.dir, a.ID, r.doc)
	if err != nil {
		t.Fatal(err)
	}
	rep.Assessment = &Assessment{Client: "acme-hris", Routes: map[string]int64{"GET /v1/x?k=" + l.key: 1},
		Privileged: []Access{{Route: "/v1/export", RequestID: l.jwt}}}
	rep.Enforcement = []Enforced{{Pod: "p", Sender: "s", RequestID: "Basic " + l.basic}}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	l.check(t, "the incident report", b.Bytes())
	// Markdown text escapes the brackets: \[REDACTED\] renders as [REDACTED].
	if n := strings.Count(b.String(), "REDACTED"); n < 6 {
		t.Errorf("the incident report holds REDACTED %d times, want 6 or more:\n%s", n, b.String())
	}
	if !strings.Contains(b.String(), a.ID) {
		t.Errorf("the incident report lost the alert's id:\n%s", b.String())
	}
}

// TestOutboxLogRedactsSinkAnswer: a Jira that answers a create with a key
// holding a token (its own, or one it echoes) has the closure refused,
// and the log line quoting the key shows [REDACTED] in its place.
func TestOutboxLogRedactsSinkAnswer(t *testing.T) {
	t.Parallel()
	l := newLeaked(t)
	j := newSinkServer(t, "jira", func(string) string { return "SEC-1 Bearer " + l.jwt })
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), func(a Alert) { box.Load().Enqueue(a) })
	r.eng.cfg.OnClose = func(a Alert) { box.Load().EnqueueClose(a) }
	var logged []string
	var mu sync.Mutex
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Engine: r.eng, Key: r.key, Client: http.DefaultClient, RuleSink: map[string]string{},
		Sinks:   []*Sink{{Name: "jira", Kind: "jira", URL: j.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot@example.com:tok")}},
		OnError: func(err error) { mu.Lock(); logged = append(logged, err.Error()); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	o.deliverDue(context.Background())
	r.event(lifecycle(t0.Add(time.Hour), ActionClose, a.ID, "alice", "done", nil))
	o.deliverDue(context.Background())
	mu.Lock()
	lines := strings.Join(logged, "\n")
	mu.Unlock()
	l.check(t, "the outbox's log lines", []byte(lines))
	if !strings.Contains(lines, "SEC-1 Bearer "+credential.Redacted) {
		t.Errorf("log lines %q, want the refused key named as SEC-1 Bearer %s", lines, credential.Redacted)
	}
}
