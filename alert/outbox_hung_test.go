package alert

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutboxHungSinkDelaysNoOther: one sink is black-holed (it takes the
// connection and never answers: each try waits for the client's timeout).
// A pass of the outbox tries it once, not once per queued delivery, so
// the other sink's tickets are not held back by the hung sink's timeout
// times the alerts queued for it (with the default 10 s, 100 queued
// alerts held a Jira ticket of a new alert back by a quarter of an hour).
func TestOutboxHungSinkDelaysNoOther(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var hungTries atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hungTries.Add(1)
			defer c.Close() // held open, never answered, until the test ends
		}
	}()
	secret := []byte("s3cret-for-the-test")
	fast := newReceiver(t, secret)
	fast.up.Store(true)
	sinks := []*Sink{{Name: "hung", Kind: "webhook", URL: "http://" + ln.Addr().String() + "/a", secret: secret},
		{Name: "fast", Kind: "webhook", URL: fast.srv.URL, secret: secret}}
	r := newRig(t, examplePolicy(t))
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key,
		Client: &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	for i := range n {
		a := Alert{ID: "alert-20261201T0900" + itoa(10+i) + "Z-0000000" + itoa(i), Rule: "token-guessing-source", Group: "source", Key: "203.0.113." + itoa(i)}
		if err := o.Enqueue(hold(r.eng, a)); err != nil {
			t.Fatal(err)
		}
	}
	o.deliverDue(context.Background())
	if got := hungTries.Load(); got != 1 {
		t.Errorf("one pass tried the hung sink %d times, want once", got)
	}
	fast.mu.Lock()
	defer fast.mu.Unlock()
	if len(fast.got) != n {
		t.Errorf("the other sink got %d of %d deliveries in the pass", len(fast.got), n)
	}
}
