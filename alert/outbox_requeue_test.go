//go:build linux

package alert

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tmpfs"
)

// TestOutboxQueuesAgainAfterFailedWrite: the alert opens while the disk
// of the ticket outbox is full, so its delivery cannot be written. It was
// queued again only at the collector's next start (Reconcile): until a
// restart, which may be weeks away, the alert reached no ticket. Now the
// outbox writes it again in-process, with backoff, each failure reported
// (OnError) and counted (Stats); once there is room the alert reaches the
// webhook, once, without a restart.
func TestOutboxQueuesAgainAfterFailedWrite(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	rcv := newReceiver(t, secret)
	rcv.up.Store(true)
	fs := tmpfs.Mount(t, 256<<10)
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: rcv.srv.URL, secret: secret}}
	var failures atomic.Int64
	o, err := NewOutbox(OutboxConfig{Dir: filepath.Join(fs, "tickets"), Sinks: sinks, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		OnError: func(error) { failures.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	var enqueueErrs atomic.Int64
	r := newRigWith(t, examplePolicy(t), func(a Alert) { // the trail is on another disk, with room
		if err := o.Enqueue(a); err != nil {
			enqueueErrs.Add(1)
		}
	})
	o.cfg.Engine = r.eng
	filler := tmpfs.Fill(t, fs)
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
	if enqueueErrs.Load() == 0 || o.Pending() != 0 {
		t.Fatalf("%d Enqueue errors, %d queued; the test needs the write refused", enqueueErrs.Load(), o.Pending())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "a failed retry of the write, reported and counted", func() bool {
		return failures.Load() >= 2 && o.Stats().QueueFailures >= 2 && o.Stats().Unqueued
	})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the alert's ticket, without a restart", func() bool { a, _ := r.eng.Alert(id); return hasTicket(&a, "secops") })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.got[id+".secops"] != 1 {
		t.Errorf("deliveries %v, want %s once", rcv.got, id)
	}
	if st := o.Stats(); st.Unqueued {
		t.Errorf("Stats %+v after the alert was queued and delivered, want nothing unqueued", st)
	}
}
