package alert

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutboxClosesTicketFiledAfterClosure: the webhook is down when the
// alert fires, and a person closes the alert before it comes back. The
// ticket filed once it is back is told of the closure at once, not left
// open until the collector's next start.
func TestOutboxClosesTicketFiledAfterClosure(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	rcv := newReceiver(t, secret)
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: rcv.srv.URL, secret: secret}}
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), func(a Alert) { box.Load().Enqueue(a) })
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng, Key: r.key, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	r.eng.cfg.OnClose = func(a Alert) { box.Load().EnqueueClose(a) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
	waitFor(t, "a try against the down webhook", func() bool { return rcv.tries.Load() >= 2 })
	r.event(lifecycle(t0.Add(time.Hour), ActionClose, id, "alice", "false alarm", map[string]string{"corrective_action": "none"}))
	rcv.up.Store(true)
	waitFor(t, "the closure at the ticket filed after it", func() bool { a, _ := r.eng.Alert(id); return anyTicketClosed(&a, "secops") })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.got[id+".secops"] != 1 || rcv.got[id+".secops.close"] != 1 {
		t.Errorf("deliveries %v, want the opening and the closure of %s once each", rcv.got, id)
	}
}
