//go:build linux

package alert

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/tmpfs"
)

// TestOutboxNoDuplicateTicketWhileTrailFull: Jira files the issue, but the
// trail cannot record alert.ticket (the collector's disk is full). The
// retries record the key Jira gave; they do not file the issue again
// (Jira has no idempotency key: each POST is a new issue), nor take the
// engine's state (which applied the event the store then failed to
// write) for the trail's and drop the delivery unrecorded: the trail
// would lack the ticket, and a restart file a second issue. Once there is
// room, each alert has its one issue, the trail names it, and a restart
// files nothing.
func TestOutboxNoDuplicateTicketWhileTrailFull(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	posts := map[string]int{}
	var issues atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		posts[r.Header.Get(HeaderDelivery)]++
		mu.Unlock()
		n := issues.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"1000`+strconv.FormatInt(n, 10)+`","key":"SEC-`+strconv.FormatInt(n, 10)+`","self":"https://jira.example/rest/api/2/issue/1"}`)
	}))
	defer srv.Close()
	fs := tmpfs.Mount(t, 1<<20)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var box atomic.Pointer[Outbox]
	r := &rig{t: t, dir: filepath.Join(fs, "audit"), key: key, doc: examplePolicy(t), onOpen: enqueueInto(t, &box)}
	r.open()
	var failures atomic.Int64
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot@example.com:tok")}}
	o, err := NewOutbox(OutboxConfig{Dir: filepath.Join(fs, "tickets"), Sinks: sinks, Engine: r.eng, Key: r.key, Client: srv.Client(),
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, OnError: func(error) { failures.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	want := len(r.eng.Alerts())
	if want == 0 || o.Pending() != want {
		t.Fatalf("%d alerts, %d queued; want alerts, each queued", want, o.Pending())
	}
	filler := tmpfs.Fill(t, fs)
	for _, n := range []int{512, 64, 0} { // the segment's last page takes a few events: fill it too
		pad := collector.Event{Time: t0, Actor: "t", Action: "t.pad", Target: "x", Reason: strings.Repeat("p", n)}
		for i := 0; r.store.AppendEvents([]collector.Event{pad}) == nil; i++ {
			if i > 1000 {
				t.Fatal("events still stored on a full disk")
			}
			pad.Target += "x"
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer cancel()
	waitFor(t, "a delivery the trail could not record", func() bool { return failures.Load() >= 1 })
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every alert ticketed", func() bool {
		for _, a := range r.eng.Alerts() {
			if len(a.Tickets) == 0 {
				return false
			}
		}
		return o.Pending() == 0
	})
	if n := len(r.trailEvents(ActionTicket)); n != want {
		t.Errorf("%d alert.ticket events in the trail, want %d", n, want)
	}
	cancel()
	<-done
	// A restart: the trail is what the collector knows of its tickets.
	r.restart()
	o2, err := NewOutbox(OutboxConfig{Dir: filepath.Join(fs, "tickets"), Sinks: sinks, Engine: r.eng, Key: r.key, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o2)
	if err := o2.Reconcile(); err != nil {
		t.Fatal(err)
	}
	o2.deliverDue(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != want {
		t.Errorf("deliveries %v, want %d", posts, want)
	}
	for id, n := range posts {
		if n != 1 {
			t.Errorf("%s filed %d Jira issues, want 1", id, n)
		}
	}
	for _, a := range r.eng.Alerts() {
		if len(a.Tickets) != 1 {
			t.Errorf("alert %s tickets %+v, want one", a.ID, a.Tickets)
		}
	}
}

// TestOutboxCloseRefusedWhileTrailFull: the sink refuses a closure for
// good while the trail cannot record it (a full disk). The closure is not
// sent again, nor dropped on the engine's word: once there is room the
// refusal is recorded, once, and a restart sends nothing.
func TestOutboxCloseRefusedWhileTrailFull(t *testing.T) {
	t.Parallel()
	fs := tmpfs.Mount(t, 1<<20)
	c := newCloseRigAt(t, filepath.Join(fs, "audit"), filepath.Join(fs, "tickets"), "SEC-1", http.StatusNotFound)
	filler := tmpfs.Fill(t, fs)
	for _, n := range []int{512, 64, 0} { // the segment's last page takes a few events: fill it too
		pad := collector.Event{Time: t0, Actor: "t", Action: "t.pad", Target: "x", Reason: strings.Repeat("p", n)}
		for i := 0; c.r.store.AppendEvents([]collector.Event{pad}) == nil; i++ {
			if i > 1000 {
				t.Fatal("events still stored on a full disk")
			}
			pad.Target += "x"
		}
	}
	for range 3 {
		c.pass()
	}
	if c.comments.Load() != 1 || c.o.Pending() != 1 || c.o.Stats().CloseRefused != 0 {
		t.Errorf("trail full: %d closures sent, %d pending, stats %+v; want 1 sent, kept queued, none counted refused yet", c.comments.Load(), c.o.Pending(), c.o.Stats())
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c.pass()
	if n := len(c.r.trailEvents(ActionTicketCloseRefused)); n != 1 || c.o.Pending() != 0 || c.comments.Load() != 1 || c.o.Stats().CloseRefused != 1 {
		t.Errorf("room again: %d refusals in the trail, %d pending, %d closures sent, stats %+v; want 1, none, 1, one refused", n, c.o.Pending(), c.comments.Load(), c.o.Stats())
	}
	c.r.restart()
	c.open()
	if err := c.o.Reconcile(); err != nil {
		t.Fatal(err)
	}
	c.pass()
	if c.o.Pending() != 0 || c.comments.Load() != 1 || len(c.r.trailEvents(ActionTicketCloseRefused)) != 1 {
		t.Errorf("after a restart: %d pending, %d closures sent; want none, 1", c.o.Pending(), c.comments.Load())
	}
}
