package alert

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSinkErrorsNameNoURL: a Slack incoming webhook's URL is its
// credential (https://hooks.slack.com/services/T…/B…/SECRET). While the
// sink is out of reach (here a port nobody listens on, and one that
// takes the connection and never answers), the delivery errors the
// collector logs must not carry it: they quoted the whole URL (Go's
// "Post \"URL\": dial tcp …"), path and query included.
func TestSinkErrorsNameNoURL(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close() // nobody listens here now
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	const secret = "xK9secretWebhookPath"
	sinks := []*Sink{
		{Name: "slack", Kind: "slack", URL: "http://" + refused + "/services/T0001/B0001/" + secret},
		{Name: "slack2", Kind: "slack", URL: "http://" + hung.Addr().String() + "/services/T0001/B0002/" + secret + "?token=" + secret},
	}
	r := newRig(t, examplePolicy(t))
	var mu sync.Mutex
	var errs []string
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key,
		Client:  &http.Client{Timeout: 200 * time.Millisecond},
		OnError: func(err error) { mu.Lock(); errs = append(errs, err.Error()); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(hold(r.eng, Alert{ID: "alert-20261201T090000Z-0000000000000001", Rule: "token-guessing-source", Group: "source", Key: "203.0.113.1"})); err != nil {
		t.Fatal(err)
	}
	o.deliverDue(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 {
		t.Fatalf("errors %q, want one per sink", errs)
	}
	for _, e := range errs {
		if strings.Contains(e, secret) {
			t.Errorf("delivery error carries the webhook URL's secret: %s", e)
		}
		if !strings.Contains(e, `ticket sink "slack`) {
			t.Errorf("delivery error %q does not name the sink", e)
		}
	}
}

// TestSlackURLNotInErrors: the errors that reach the log when a Slack
// URL is refused (the policy's url:, or the file's) name the sink and
// where the URL comes from, never the URL: it is the credential.
func TestSlackURLNotInErrors(t *testing.T) {
	t.Parallel()
	const secret = "xK9secretWebhookPath"
	bad := "http://hooks.slack.example/services/T0001/B0001/" + secret // plain http off loopback
	_, err := slackPolicy(t, `  - {name: secops, kind: slack, url: "`+bad+`"}`)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("policy with a Slack url over plain http: error %v; want one without the URL", err)
	}
	f := filepath.Join(t.TempDir(), "slack-url")
	if err := os.WriteFile(f, []byte(bad+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := slackPolicy(t, `  - {name: secops, kind: slack, url_file: "`+f+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	sinks, err := NewSinks(doc.Tickets)
	if len(sinks) != 0 || err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), `"secops"`) {
		t.Errorf("NewSinks of a url_file holding a plain http URL = %v, %v; want the sink left out, an error naming it and not the URL", sinks, err)
	}
	for _, line := range []string{
		`  - {name: secops, kind: slack}`,
		`  - {name: secops, kind: slack, url: "https://hooks.slack.com/services/T/B/` + secret + `", url_file: "` + f + `"}`,
	} {
		if _, err := slackPolicy(t, line); err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("policy %s: error %v; want one (exactly one of url and url_file), without the URL", line, err)
		}
	}
}
