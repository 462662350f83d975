//go:build linux

package alert

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOutboxFIFOHoldsNoDelivery: a FIFO planted in the ticket outbox
// under a delivery's name (0~secops.json, listed first) froze the
// outbox's goroutine for good in open(2), waiting for a writer: no alert
// reached any sink again until a restart, and the restart froze the same
// way. It is now refused at once, reported, and the other deliveries go
// out.
func TestOutboxFIFOHoldsNoDelivery(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	rcv := newReceiver(t, secret)
	rcv.up.Store(true)
	dir := filepath.Join(t.TempDir(), "tickets")
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: rcv.srv.URL, secret: secret}}
	errs := make(chan error, 100)
	o, err := NewOutbox(OutboxConfig{Dir: dir, Sinks: sinks, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "0~secops.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// On the code before, the outbox waits in open(2) for a writer: one
	// comes at the end so that the goroutine can return.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	r := newRigWith(t, examplePolicy(t), func(a Alert) {
		if err := o.Enqueue(a); err != nil {
			t.Errorf("Enqueue: %v", err)
		}
	})
	o.cfg.Engine = r.eng
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the alert's ticket with a FIFO in the outbox", func() bool { a, _ := r.eng.Alert(id); return hasTicket(&a, "secops") })
	select {
	case err := <-errs:
		t.Logf("reported: %v", err)
	case <-time.After(time.Minute):
		t.Error("the FIFO in the outbox was not reported")
	}
}
