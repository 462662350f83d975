package alert

import (
	"context"
	"net"
	"net/http"
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
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng,
		Client:  &http.Client{Timeout: 200 * time.Millisecond},
		OnError: func(err error) { mu.Lock(); errs = append(errs, err.Error()); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(Alert{ID: "alert-20261201T090000Z-0000000000000001", Rule: "token-guessing-source", Group: "source", Key: "203.0.113.1"}); err != nil {
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
