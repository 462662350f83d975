package alert

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// slackPolicy is the example policy with its webhook sink replaced by a
// Slack sink given by line (the YAML of one sink).
func slackPolicy(t *testing.T, line string) (*policy.Document, error) {
	t.Helper()
	b, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const sink = `  - {name: secops, kind: webhook, url: "http://127.0.0.1:9099/alerts", secret: "env:PORTCULLIS_TICKET_SECRET"}`
	if !strings.Contains(string(b), sink) {
		t.Fatal("examples/policy.yaml no longer has the webhook sink this test replaces")
	}
	return policy.Load("p.yaml", []byte(strings.Replace(string(b), sink, line, 1)))
}

// TestSlackURLFromFile: a Slack incoming webhook's URL is its credential,
// and it could only be written in the policy (url:), in the clear, for
// everyone who reads the policy or its history in etcd. url_file: names a
// file holding it, read like the sinks' other secrets; the alert reaches
// the real webhook at that URL, and the policy holds only the path.
func TestSlackURLFromFile(t *testing.T) {
	t.Parallel()
	const secretPath = "/services/T0001/B0001/xK9secretWebhookPath"
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
		io.WriteString(w, "ok") // Slack answers a plain "ok"
	}))
	defer srv.Close()
	f := filepath.Join(t.TempDir(), "slack-url")
	if err := os.WriteFile(f, []byte(srv.URL+secretPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := slackPolicy(t, `  - {name: secops, kind: slack, url_file: "`+f+`"}`)
	if err != nil {
		t.Fatalf("a Slack sink with url_file: %v", err)
	}
	sinks, err := NewSinks(doc.Tickets)
	if err != nil || len(sinks) != 1 {
		t.Fatalf("NewSinks = %v, %v; want the Slack sink", sinks, err)
	}
	r := newRig(t, doc)
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	if err := o.Enqueue(a); err != nil {
		t.Fatal(err)
	}
	o.deliverDue(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.HasPrefix(got[0], secretPath+" ") || !strings.Contains(got[0], a.ID) {
		t.Errorf("the Slack webhook got %q, want the alert once at the URL in the file", got)
	}
}
