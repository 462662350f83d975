package alert

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestSustainedAttackOneTicketPerSink: 10 minutes (simulated clock) of
// guessing, with the outbox delivering to two webhook receivers, is one
// ticket per alert and sink: the client rule names sink "a" (ticket: a)
// and reaches only it, the source rule names none and reaches both
// (issue 14: no alert storm; a rule may name its sink).
func TestSustainedAttackOneTicketPerSink(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-storm-test")
	a, b := newReceiver(t, secret), newReceiver(t, secret)
	a.up.Store(true)
	b.up.Store(true)
	sinks := []*Sink{{Name: "a", Kind: "webhook", URL: a.srv.URL, secret: secret}, {Name: "b", Kind: "webhook", URL: b.srv.URL, secret: secret}}
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), func(al Alert) {
		if err := box.Load().Enqueue(al); err != nil {
			t.Errorf("Enqueue: %v", err)
		}
	})
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, RuleSink: map[string]string{"token-guessing-client": "a"},
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for s := range 600 {
		r.send(every(t0.Add(time.Duration(s)*time.Second), 200*time.Millisecond, 5, failed("acmehris1"))...)
	}
	waitFor(t, "every alert ticketed", func() bool {
		n := 0
		for _, al := range r.eng.Alerts() {
			n += len(al.Tickets)
		}
		return n == 3 && o.Pending() == 0
	})
	for _, c := range []struct {
		name string
		rcv  *receiver
		want int
	}{{"a", a, 2}, {"b", b, 1}} {
		c.rcv.mu.Lock()
		total := 0
		for id, n := range c.rcv.got {
			total += n
			if n != 1 {
				t.Errorf("sink %s received delivery %s %d times, want once", c.name, id, n)
			}
		}
		if total != c.want || len(c.rcv.bad) > 0 {
			t.Errorf("sink %s received %d deliveries (bad %v), want %d", c.name, total, c.rcv.bad, c.want)
		}
		c.rcv.mu.Unlock()
	}
	if got := len(r.alerts("token-guessing-client")) + len(r.alerts("token-guessing-source")); got != 2 {
		t.Errorf("%d alerts, want 2 (one per rule)", got)
	}
	if n := len(r.trailEvents(ActionTicket)); n != 3 {
		t.Errorf("%d alert.ticket events in the trail, want 3", n)
	}
}
