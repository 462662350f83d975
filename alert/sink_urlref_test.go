package alert

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlackURLFromReference: a Slack incoming webhook's URL is its
// credential, and its sink takes it as the webhook's secret is taken, by
// reference: url: env:NAME (a Kubernetes Secret given as an environment
// variable) or url: file:PATH; the policy refused both, so the URL could
// only be written in it. Each reference reaches the real webhook at the
// URL it holds, and the URL is in no error, no file of the trail (the
// alert's ticket event included) and no file of the outbox.
func TestSlackURLFromReference(t *testing.T) {
	const secretPath = "/services/T0001/B0001/xK9secretWebhookPath"
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	t.Setenv("PORTCULLIS_TEST_SLACK_URL", srv.URL+secretPath)
	f := filepath.Join(t.TempDir(), "slack-url")
	if err := os.WriteFile(f, []byte(srv.URL+secretPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"env:PORTCULLIS_TEST_SLACK_URL", "file:" + f} {
		t.Run(strings.SplitN(ref, ":", 2)[0], func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			doc, err := slackPolicy(t, `  - {name: secops, kind: slack, url: "`+ref+`"}`)
			if err != nil {
				t.Fatalf("a Slack sink with url: %s: %v", ref, err)
			}
			sinks, err := NewSinks(doc.Tickets)
			if err != nil || len(sinks) != 1 {
				t.Fatalf("NewSinks = %v, %v; want the Slack sink", sinks, err)
			}
			r := newRig(t, doc)
			var errs []string
			outbox := t.TempDir()
			o, err := NewOutbox(OutboxConfig{Dir: outbox, Sinks: sinks, Engine: r.eng, Key: r.key, Client: srv.Client(),
				OnError: func(err error) { mu.Lock(); errs = append(errs, err.Error()); mu.Unlock() }})
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
				t.Errorf("the Slack webhook got %q, want the alert once at the URL %s holds", got, ref)
			}
			if len(r.trailEvents("alert.ticket")) != 1 {
				t.Errorf("no alert.ticket event in the trail after the delivery (errors %q)", errs)
			}
			for _, e := range errs {
				if strings.Contains(e, "xK9secret") {
					t.Errorf("the URL reached the error %q", e)
				}
			}
			for _, g := range got {
				if _, body, _ := strings.Cut(g, " "); strings.Contains(body, "xK9secret") {
					t.Errorf("the URL reached the message %q", body)
				}
			}
			for _, dir := range []string{r.dir, outbox} {
				filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() {
						if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("xK9secret")) {
							t.Errorf("%s holds the Slack URL", p)
						}
					}
					return nil
				})
			}
		})
	}
}
