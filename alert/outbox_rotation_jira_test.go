package alert

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJiraResendAfterKeyRotationFilesOneIssue: a Jira create had no
// answer in time (Jira filed the issue all the same), and the queued
// file says so (tried), signed under the collector's key. The key is
// rotated (or the collector upgraded from a release that did not sign):
// the file is refused and removed, and the delivery queued again from
// the trail knew nothing of the try, so it created a second issue
// (Jira issues [SEC-1 SEC-2]). A delivery queued again from the trail
// now searches for the issue of its delivery label first, as a retry
// does. The Jira here is a real HTTP server on loopback speaking the
// published REST v2 wire format (POST /rest/api/2/issue, GET
// /rest/api/2/search/jql with JQL labels = "...").
func TestJiraResendAfterKeyRotationFilesOneIssue(t *testing.T) {
	t.Parallel()
	j := newLateJira(t, true)
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: j.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot@example.com:tok")}}
	r := newRig(t, examplePolicy(t))
	dir := t.TempDir()
	var mu sync.Mutex
	var errs []string
	start := func(key ed25519.PrivateKey, minBackoff time.Duration) (*Outbox, func()) {
		o, err := NewOutbox(OutboxConfig{Dir: dir, Sinks: sinks, Engine: r.eng, Key: key,
			Client: &http.Client{Timeout: 300 * time.Millisecond}, MinBackoff: minBackoff, MaxBackoff: 2 * minBackoff,
			OnError: func(err error) { mu.Lock(); errs = append(errs, err.Error()); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); o.Run(ctx) }()
		return o, func() { cancel(); <-done }
	}
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]
	file := filepath.Join(dir, a.ID+"~jira.json")

	// The first collector: the create has no answer in time; the next
	// try is an hour away.
	o1, stop := start(r.key, time.Hour)
	if err := o1.Enqueue(a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed create marked in the queued file", func() bool {
		b, _ := os.ReadFile(file)
		return strings.Contains(string(b), `"tried":true`)
	})
	stop()

	// The collector starts again under a new key.
	_, rotated, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, stop = start(rotated, 5*time.Millisecond)
	defer stop()
	waitFor(t, "the alert's Jira ticket", func() bool { a, _ := r.eng.Alert(a.ID); return hasTicket(&a, "jira") })
	got, _ := r.eng.Alert(a.ID)
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.keys) != 1 || got.Tickets[0].Key != "SEC-1" {
		t.Errorf("Jira issues %v, alert tickets %+v; want one issue, SEC-1, on the alert", j.keys, got.Tickets)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(errs, "\n"), "not signed by the collector's key") {
		t.Errorf("the refused file is not reported: %q", errs)
	}
}
