package alert

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// closeRig is a Jira sink over loopback whose create answers key and whose
// comment (the closure) answers status, an outbox to it on a simulated
// clock, and an alert filed and then closed.
type closeRig struct {
	t        *testing.T
	r        *rig
	o        *Outbox
	status   atomic.Int64 // the comment's answer
	comments atomic.Int64 // closures received
	sinks    []*Sink
	srv      *httptest.Server
	mu       sync.Mutex
	clock    time.Time
	logged   []error
	id       string
	tickets  string // the outbox's folder
}

func newCloseRig(t *testing.T, key string, status int) *closeRig {
	return newCloseRigAt(t, t.TempDir(), t.TempDir(), key, status)
}

// newCloseRigAt is newCloseRig with the store in audit and the outbox in
// tickets.
func newCloseRigAt(t *testing.T, audit, tickets, key string, status int) *closeRig {
	c := &closeRig{t: t, clock: t0.Add(24 * time.Hour), tickets: tickets}
	c.status.Store(int64(status))
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/comment") {
			c.comments.Add(1)
			w.WriteHeader(int(c.status.Load()))
			io.WriteString(w, `{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"10001","key":%q}`, key)
	}))
	t.Cleanup(c.srv.Close)
	c.sinks = []*Sink{{Name: "secops-jira", Kind: "jira", URL: c.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot@example.com:tok")}}
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.r = &rig{t: t, dir: audit, key: sk, doc: examplePolicy(t)}
	c.r.open()
	c.r.send(every(t0, time.Second, 30, failed(""), from("203.0.113.1"))...)
	c.id = wantAlerts(t, c.r, "token-guessing-source", 1)[0].ID
	c.open()
	a, _ := c.r.eng.Alert(c.id)
	if err := c.o.Enqueue(a); err != nil {
		t.Fatal(err)
	}
	c.pass()
	if a, _ = c.r.eng.Alert(c.id); len(a.Tickets) != 1 {
		t.Fatalf("alert not filed: %+v", a.Tickets)
	}
	c.r.event(lifecycle(t0.Add(time.Minute), ActionClose, c.id, "alice", "blocked", map[string]string{"corrective_action": "block"}))
	a, _ = c.r.eng.Alert(c.id)
	if err := c.o.EnqueueClose(a); err != nil {
		t.Fatal(err)
	}
	return c
}

// open makes the outbox over the rig's engine, as a collector's start does.
func (c *closeRig) open() {
	o, err := NewOutbox(OutboxConfig{Dir: c.tickets, Sinks: c.sinks, Engine: c.r.eng, Key: c.r.key, Client: c.srv.Client(),
		Now: func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.clock }, MinBackoff: time.Second, MaxBackoff: time.Minute,
		OnError: func(err error) { c.mu.Lock(); c.logged = append(c.logged, err); c.mu.Unlock() }})
	if err != nil {
		c.t.Fatal(err)
	}
	c.o = o
}

// pass runs one pass of the outbox an hour later: every retry is due.
func (c *closeRig) pass() {
	c.mu.Lock()
	c.clock = c.clock.Add(time.Hour)
	c.mu.Unlock()
	c.o.deliverDue(context.Background())
}

func (c *closeRig) refusedLogs() (n int, last string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.logged {
		if errors.Is(err, ErrCloseRefused) {
			n, last = n+1, err.Error()
		}
	}
	return n, last
}

// TestOutboxCloseRefusedForGoodStops: the closure of a ticket the sink
// refuses for good (Jira's 404 for an issue deleted since, a 400 for
// that key, or a key that cannot be sent) was retried with backoff for
// ever, and shown nowhere but a warn line at each try. It is now tried
// once: recorded as alert.ticket_close_refused (alerts show prints it),
// counted, logged once naming the sink and the alert, and neither retried
// nor queued again by a restart.
func TestOutboxCloseRefusedForGoodStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, key string
		status    int
		sends     int64 // closures that reach the sink
		why       string
	}{
		{"404", "SEC-1", http.StatusNotFound, 1, "404 Not Found"},
		{"400", "SEC-1", http.StatusBadRequest, 1, "400 Bad Request"},
		{"403", "SEC-1", http.StatusForbidden, 1, "403 Forbidden"},
		{"key not one path segment", "../../admin", http.StatusCreated, 0, "not one path segment"},
	} {
		c := newCloseRig(t, tc.key, tc.status)
		for range 5 {
			c.pass()
		}
		a, _ := c.r.eng.Alert(c.id)
		if n := c.comments.Load(); n != tc.sends {
			t.Errorf("%s: the sink got %d closures in 5 passes; want %d", tc.name, n, tc.sends)
		}
		ev := c.r.trailEvents(ActionTicketCloseRefused)
		if len(ev) != 1 || !strings.Contains(ev[0].Reason, tc.why) || !strings.Contains(ev[0].Reason, `"secops-jira"`) || !strings.Contains(ev[0].Reason, c.id) {
			t.Errorf("%s: %d alert.ticket_close_refused events %+v; want one naming the sink, the alert and %q", tc.name, len(ev), ev, tc.why)
		}
		if c.o.Pending() != 0 || c.o.Stats().CloseRefused != 1 || c.o.Stats().DeliveryFailures != 0 {
			t.Errorf("%s: %d pending, stats %+v; want none pending, one closure refused, no failure retried", tc.name, c.o.Pending(), c.o.Stats())
		}
		if n, last := c.refusedLogs(); n != 1 || !strings.Contains(last, `"secops-jira"`) || !strings.Contains(last, c.id) {
			t.Errorf("%s: logged %q; want one ErrCloseRefused naming the sink and %s", tc.name, c.logged, c.id)
		}
		var b strings.Builder
		WriteText(&b, &a)
		if !strings.Contains(b.String(), ActionTicketCloseRefused) || !strings.Contains(b.String(), tc.why) {
			t.Errorf("%s: alerts show:\n%s\nwant the refused closure with %q", tc.name, b.String(), tc.why)
		}
		// A restart neither queues the closure again nor sends it.
		c.r.restart()
		c.open()
		if err := c.o.Reconcile(); err != nil {
			t.Fatal(err)
		}
		c.pass()
		if c.o.Pending() != 0 || c.comments.Load() != tc.sends {
			t.Errorf("%s: after a restart: %d pending, %d closures sent; want none, %d", tc.name, c.o.Pending(), c.comments.Load(), tc.sends)
		}
	}
}

// TestOutboxCloseTransientRetried: a closure answered 5xx, 408 or 429
// is retried with backoff until the sink takes it.
func TestOutboxCloseTransientRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusRequestTimeout, http.StatusTooManyRequests} {
		c := newCloseRig(t, "SEC-1", status)
		for range 3 {
			c.pass()
		}
		if c.comments.Load() != 3 || c.o.Pending() != 1 || len(c.r.trailEvents(ActionTicketCloseRefused)) != 0 || c.o.Stats().DeliveryFailures != 3 {
			t.Errorf("%d: %d closures sent in 3 passes, %d pending, stats %+v; want 3 tries, still queued, none refused", status, c.comments.Load(), c.o.Pending(), c.o.Stats())
		}
		c.status.Store(http.StatusCreated)
		c.pass()
		if c.o.Pending() != 0 || len(c.r.trailEvents(ActionTicketUpdate)) != 1 {
			t.Errorf("%d: once the sink takes it: %d pending, %d alert.ticket_update; want none, one", status, c.o.Pending(), len(c.r.trailEvents(ActionTicketUpdate)))
		}
	}
}
